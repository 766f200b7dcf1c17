// The runtime reached through another name, with `#[signature(crate = "...")]`.
extern crate dspy as renamed;

mod inner {
    use renamed::Signature;

    /// Say hello.
    #[derive(Signature)]
    #[signature(crate = "renamed", instructions = "Greet the person by name.")]
    pub struct Greet {
        #[input]
        pub name: String,
        #[output]
        pub greeting: String,
    }
}

fn main() {
    use renamed::TypedSignature;
    assert_eq!(inner::Greet::spec().instructions, "Greet the person by name.");
    let (input, output): (inner::GreetInput, inner::GreetOutput) = inner::Greet {
        name: "Ada".into(),
        greeting: "Hello, Ada!".into(),
    }
    .into();
    assert_eq!(input.name, "Ada");
    assert_eq!(output.greeting, "Hello, Ada!");
}
