//! The policy tool's binary: `check`, `explain` and `diff` (see the library, `stop_gateway_policy`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = stop_gateway_policy::run(&args);
    print!("{}", run.stdout);
    if !run.stderr.is_empty() {
        eprintln!("{}", run.stderr);
    }
    std::process::exit(run.code);
}
