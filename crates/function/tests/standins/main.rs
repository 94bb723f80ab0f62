//! The stand-in suite: the real gateway binary under a Lambda Runtime API, against local AWS stand-ins that are
//! not ours (moto, AWS's durable-functions server) and an API Gateway front for the contract test. Needs
//! `standins/setup.sh` (and, for the contract test, the schemathesis virtualenv); `scripts/test` installs both.
//! Without them every test here fails with a message naming the command to run.

mod accounts;
mod burst;
mod capacity;
mod contract;
mod drill;
mod e2e;
mod failclosed;
mod faults;
mod latch;
mod metrics;
