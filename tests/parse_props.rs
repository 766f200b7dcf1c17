//! Property tests: whatever text an LM sends, both parsers return `Ok` or `Err`, never
//! panic; and values they format, they parse back.

use dspy::prelude::*;
use proptest::prelude::*;

fn signatures() -> Vec<SignatureSpec> {
    [
        "question -> answer",
        "q -> n: int, x: float, ok: bool",
        "q -> label: Literal['a', 'b', 'c'], tags: list[str], maybe: Optional[int]",
        "q -> scores: dict[str, list[float]], any: Any",
    ]
    .iter()
    .map(|s| SignatureSpec::parse(s).expect("valid"))
    .collect()
}

/// Text that looks like what LMs send: markers, JSON fragments, quotes, brackets, noise.
fn lm_like_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[[ ## answer ## ]]".to_string()),
        Just("[[ ## n ## ]]\n".to_string()),
        Just("[[ ## label ## ]]".to_string()),
        Just("[[ ## completed ## ]]".to_string()),
        Just("[[ ##".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("\\".to_string()),
        Just("\\u12".to_string()),
        Just(":".to_string()),
        Just(",".to_string()),
        Just("```json\n".to_string()),
        Just("True".to_string()),
        Just("None".to_string()),
        Just("-1e999".to_string()),
        Just("\n".to_string()),
        "[a-z]{1,8}",
        "[0-9.eE+-]{1,12}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsers_never_panic_on_arbitrary_text(text in any::<String>()) {
        for sig in signatures() {
            let _ = ChatAdapter.parse(&sig, &text);
            let _ = JsonAdapter.parse(&sig, &text);
        }
    }

    #[test]
    fn parsers_never_panic_on_lm_like_text(text in lm_like_text()) {
        for sig in signatures() {
            match ChatAdapter.parse(&sig, &text) {
                Ok(fields) => prop_assert_eq!(fields.len(), sig.outputs.len()),
                Err(e) => prop_assert!(e.message.is_some() || !e.fields.is_empty()),
            }
            match JsonAdapter.parse(&sig, &text) {
                Ok(fields) => prop_assert_eq!(fields.len(), sig.outputs.len()),
                Err(e) => prop_assert!(e.message.is_some() || !e.fields.is_empty()),
            }
        }
    }

    #[test]
    fn formatted_answers_parse_back(
        answer in "[^\\[\\]]{1,40}",
        n in any::<i64>(),
        x in -1e12f64..1e12,
        ok in any::<bool>(),
    ) {
        let answer = answer.trim().to_string();
        prop_assume!(!answer.is_empty() && !answer.starts_with('"'));
        let sig = SignatureSpec::parse("q -> answer, n: int, x: float, ok: bool").expect("valid");
        let text = format!(
            "[[ ## answer ## ]]\n{answer}\n\n[[ ## n ## ]]\n{n}\n\n[[ ## x ## ]]\n{}\n\n[[ ## ok ## ]]\n{}\n\n[[ ## completed ## ]]",
            dspy::value::py_float_repr(x),
            if ok { "True" } else { "False" },
        );
        let fields = ChatAdapter.parse(&sig, &text).expect("well-formed answer parses");
        prop_assert_eq!(fields["answer"].as_str(), Some(answer.as_str()));
        prop_assert_eq!(fields["n"].as_i64(), Some(n));
        prop_assert_eq!(fields["x"].as_f64(), Some(x));
        prop_assert_eq!(fields["ok"].as_bool(), Some(ok));
    }
}
