"""Python DSPy's side of tests/python_compat.rs.

  python saved_program.py load PATH   load PATH into the program below, print its state
  python saved_program.py save PATH   edit the program below, save it to PATH

The program is the one the Rust test builds: ChainOfThought(QA) as `generate` and
Predict(Classify) as `classify`.
"""
import json
import sys
from typing import Literal

import dspy


class QA(dspy.Signature):
    """Answer questions with short factoid answers."""

    question: str = dspy.InputField()
    answer: str = dspy.OutputField(desc="often between 1 and 5 words")


class Classify(dspy.Signature):
    """Classify the sentiment of a product review."""

    review: str = dspy.InputField()
    sentiment: Literal["positive", "negative", "neutral"] = dspy.OutputField()
    confidence: float = dspy.OutputField(desc="between 0 and 1")


class Program(dspy.Module):
    def __init__(self):
        super().__init__()
        self.generate = dspy.ChainOfThought(QA)
        self.classify = dspy.Predict(Classify)


def main():
    mode, path = sys.argv[1], sys.argv[2]
    program = Program()
    if mode == "load":
        program.load(path)
        state = {}
        for name, predictor in program.named_predictors():
            state[name] = {
                "instructions": predictor.signature.instructions,
                "fields": [
                    [f.json_schema_extra["prefix"], f.json_schema_extra["desc"]]
                    for f in predictor.signature.fields.values()
                ],
                "demos": [dict(d) for d in predictor.demos],
            }
        print(json.dumps(state))
    elif mode == "save":
        program.generate.predict.signature = program.generate.predict.signature.with_instructions(
            "Answer in as few words as you can."
        )
        program.generate.predict.demos = [
            dspy.Example(question="Who painted the Mona Lisa?", reasoning="Da Vinci did.", answer="Leonardo da Vinci", augmented=True)
        ]
        program.classify.demos = [
            dspy.Example(review="Love it", sentiment="positive", confidence=0.9)
        ]
        program.save(path)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
