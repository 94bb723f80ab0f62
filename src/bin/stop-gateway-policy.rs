//! The policy tool's binary: `check`, `explain` and `diff` (see `stop_gateway::policy_tool`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = stop_gateway::policy_tool::run(&args);
    print!("{}", run.stdout);
    if !run.stderr.is_empty() {
        eprintln!("{}", run.stderr);
    }
    std::process::exit(run.code);
}
