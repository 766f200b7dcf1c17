#!/usr/bin/env python3
"""Writes data/agent_corpus.jsonl and data/agent_questions.jsonl: a small invented world
(companies, their founders, the founders' home towns, the towns' countries) whose
questions need two or three lookups, so an agent must use its search tool and chain what
it finds. Invented names keep the model from answering from memory. Deterministic."""
import json
import pathlib

companies = [
    ("Zarvex Labs", "Mira Okonkwo", 1994, "Velport", "Ostrava Union"),
    ("Quillon Works", "Teodor Brask", 2001, "Harnwick", "Kell Republic"),
    ("Sablewind", "Ines Caradoc", 1987, "Port Averly", "Ostrava Union"),
    ("Orrin & Vale", "Dagny Ruhl", 2010, "Lenmoor", "Tessaly"),
    ("Copperfen", "Yusuf Arandel", 1979, "Vask", "Kell Republic"),
    ("Mistral Forge", "Anouk Telmar", 2015, "Brightwater", "Tessaly"),
    ("Hollowpine", "Corin Ashdown", 1968, "Elsmere", "Norvale"),
    ("Kestrel Data", "Priya Vantongeren", 2007, "Grayhaven", "Norvale"),
    ("Lumen Brook", "Oskar Milevic", 1999, "Tarrow", "Ostrava Union"),
    ("Redcairn", "Selma Yoruba", 1983, "Fallowmere", "Kell Republic"),
    ("Pallas Rail", "Hugo Strand", 1972, "Winterby", "Tessaly"),
    ("Nimbus Cartography", "Lea Fontaine", 2019, "Carrow Point", "Norvale"),
]

corpus = []
for name, founder, year, town, country in companies:
    corpus.append({"title": name, "text": f"{name} is a company founded in {year} by {founder}."})
    corpus.append({"title": founder, "text": f"{founder} is an entrepreneur who was born in {town}."})
towns = sorted({(c[3], c[4]) for c in companies})
for town, country in towns:
    corpus.append({"title": town, "text": f"{town} is a town in {country}."})

questions = []
for name, founder, year, town, country in companies:
    questions.append({"question": f"In which town was the founder of {name} born?", "answer": town})
    questions.append({"question": f"In which country was the founder of {name} born?", "answer": country})
for (a, _, ya, _, _), (b, _, yb, _, _) in zip(companies[::2], companies[1::2]):
    questions.append({
        "question": f"How many years after {a} was {b} founded? (negative if before)",
        "answer": str(yb - ya),
    })

root = pathlib.Path(__file__).resolve().parent.parent / "data"
(root / "agent_corpus.jsonl").write_text("".join(json.dumps(p) + "\n" for p in corpus))
(root / "agent_questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
print(f"{len(corpus)} passages, {len(questions)} questions")
