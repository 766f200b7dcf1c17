use dspy::Module;

#[derive(Module)]
enum NotAStruct {
    A,
}

fn main() {}
