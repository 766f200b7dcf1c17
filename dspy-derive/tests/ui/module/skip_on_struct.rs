use dspy::Module;

#[derive(Module)]
#[module(skip)]
struct Program {
    #[module(skip)]
    helper: String,
}

fn main() {}
