//! What a drill reports, in each form a reader needs: the summary the Lambda function answers with, one log line
//! saying what failed, one embedded-metric-format line (`FireDrillFailures` 0 or 1, dimension sets `[]` and
//! `["Step"]`), and the table the first-deployment check prints.

use serde_json::{Value, json};

use crate::step::{Verdict, step_name};

/// The metric every drill emits: 1 when it failed, 0 when it passed.
pub const FAILURES_METRIC: &str = "FireDrillFailures";

/// The result of one drill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The canary drilled (`state-machine`, `durable`).
    pub canary: &'static str,
    /// The door the stop was asked through.
    pub door: &'static str,
    /// This drill's id (in the execution's name and the request's reason).
    pub drill_id: String,
    /// The execution it started, once started.
    pub execution_arn: Option<String>,
    /// The audit record of its request, once one arrived.
    pub audit_id: Option<String>,
    /// Passed, or the first step that failed.
    pub verdict: Verdict,
}

impl Report {
    /// Whether the drill passed.
    pub fn passed(&self) -> bool {
        self.verdict.is_ok()
    }

    /// The drill as JSON: for the function's answer and the log line.
    pub fn summary(&self) -> Value {
        json!({
            "canary": self.canary,
            "door": self.door,
            "drillId": self.drill_id,
            "passed": self.passed(),
            "Step": step_name(&self.verdict),
            "why": self.verdict.as_ref().err().map(|f| f.why.clone()),
            "executionArn": self.execution_arn,
            "auditId": self.audit_id,
        })
    }

    /// The embedded-metric-format line: one sample of `FireDrillFailures` in the undimensioned set (every drill
    /// adds one, so an alarm on its sample count sees drills stop running) and one under its `Step`.
    pub fn metrics_line(&self, namespace: &str, timestamp_ms: u64) -> String {
        json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [[], ["Step"]],
                    "Metrics": [{"Name": FAILURES_METRIC, "Unit": "Count"}],
                }],
            },
            FAILURES_METRIC: u8::from(!self.passed()),
            "Step": step_name(&self.verdict),
            "Canary": self.canary,
            "Door": self.door,
            "DrillId": self.drill_id,
            "ExecutionArn": self.execution_arn,
            "AuditId": self.audit_id,
        })
        .to_string()
    }

    /// Logs the drill: INFO when it passed, ERROR with the failing step and why when it did not.
    pub fn log(&self) {
        let step = step_name(&self.verdict);
        let execution = self.execution_arn.as_deref().unwrap_or("-");
        let audit_id = self.audit_id.as_deref().unwrap_or("-");
        match &self.verdict {
            Ok(()) => tracing::info!(
                canary = self.canary, door = self.door, drill_id = %self.drill_id, step, execution, audit_id,
                "fire drill passed"
            ),
            Err(failure) => tracing::error!(
                canary = self.canary, door = self.door, drill_id = %self.drill_id, step, execution, audit_id,
                why = %failure.why, "fire drill failed at {step}: {}", failure.why
            ),
        }
    }
}

/// The answer of one run of drills.
pub fn run_summary(reports: &[Report]) -> Value {
    json!({
        "passed": reports.iter().all(Report::passed),
        "drills": reports.iter().map(Report::summary).collect::<Vec<_>>(),
    })
}

/// The first-deployment check's table: one row per drill, then what failed in words.
pub fn table(reports: &[Report]) -> String {
    let mut rows = vec![["canary", "door", "result", "step", "audit id", "execution"].map(str::to_owned)];
    for r in reports {
        rows.push([
            r.canary.to_owned(),
            r.door.to_owned(),
            (if r.passed() { "PASS" } else { "FAIL" }).to_owned(),
            step_name(&r.verdict).to_owned(),
            r.audit_id.clone().unwrap_or_else(|| "-".to_owned()),
            r.execution_arn.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    let widths: Vec<usize> = (0..6).map(|c| rows.iter().map(|row| row[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out += cells.join("  ").trim_end();
        out.push('\n');
    }
    for r in reports {
        if let Err(failure) = &r.verdict {
            out += &format!("{} drill failed at {}: {}\n", r.canary, failure.step, failure.why);
        }
    }
    out += &format!("{} of {} drills passed\n", reports.iter().filter(|r| r.passed()).count(), reports.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::{Failure, Step};

    fn report(verdict: Verdict) -> Report {
        Report {
            canary: "state-machine",
            door: "eventbridge",
            drill_id: "d-1".to_owned(),
            execution_arn: Some("arn:aws:states:us-east-1:123456789012:execution:c:fire-drill-d-1".to_owned()),
            audit_id: verdict.is_ok().then(|| "a-1".to_owned()),
            verdict,
        }
    }

    #[test]
    fn the_metrics_line_counts_a_failure_under_its_step_and_every_drill_in_the_undimensioned_set() {
        let failed: Value =
            serde_json::from_str(&report(Err(Failure::at(Step::Cause, "x"))).metrics_line("N/FireDrill", 7)).unwrap();
        assert_eq!(failed["FireDrillFailures"], 1);
        assert_eq!(failed["Step"], "cause");
        let directive = &failed["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "N/FireDrill");
        assert_eq!(directive["Dimensions"], json!([[], ["Step"]]));
        assert_eq!(failed["_aws"]["Timestamp"], 7);
        let passed: Value = serde_json::from_str(&report(Ok(())).metrics_line("N/FireDrill", 7)).unwrap();
        assert_eq!((passed["FireDrillFailures"].clone(), passed["Step"].clone()), (json!(0), json!("none")));
    }

    #[test]
    fn the_table_has_a_row_per_drill_and_says_why_one_failed() {
        let reports = [report(Ok(())), report(Err(Failure::at(Step::Audit, "no record")))];
        let table = table(&reports);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("canary         door         result  step   audit id"), "{table}");
        assert!(lines[1].contains("PASS    none") && lines[1].contains("a-1"), "{table}");
        assert!(lines[2].contains("FAIL    audit"), "{table}");
        assert_eq!(lines[3], "state-machine drill failed at audit: no record");
        assert_eq!(lines[4], "1 of 2 drills passed");
        assert_eq!(run_summary(&reports)["passed"], false);
        assert_eq!(run_summary(&reports[..1])["drills"][0]["Step"], "none");
    }
}
