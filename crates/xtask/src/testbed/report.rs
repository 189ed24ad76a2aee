//! Results of a bed run: one outcome per scenario and round, the emulator-fault retries, and the
//! per-scenario summary of a repeated run (`--repeat N`).

use std::time::Duration;

/// How a scenario ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass(String),
    Fail(String),
    NotRun(String),
}

/// One scenario's result in one round.
#[derive(Debug, Clone)]
struct Entry {
    round: u32,
    name: String,
    outcome: Outcome,
    /// Host wall-clock time from the scenario's first BEGIN in this round to its result.
    took: Option<Duration>,
}

/// An emulator-fault retry that dom0 reported.
#[derive(Debug, Clone)]
struct Retry {
    round: u32,
    name: String,
    detail: String,
}

/// The results of one run of the bed (all rounds).
#[derive(Default)]
pub struct Report {
    results: Vec<Entry>,
    retries: Vec<Retry>,
    /// Retries of the bed's own boot (dom0 never came up).
    pub boot_retries: Vec<String>,
    /// Emulator faults seen on the Xen console.
    pub emulator_faults: usize,
}

/// What a repeated scenario did over all rounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub name: String,
    pub passed: u32,
    pub rounds: u32,
    /// Minimum, median and maximum time of the rounds that have a time.
    pub times: Option<(Duration, Duration, Duration)>,
    /// Emulator-fault retries over all rounds.
    pub retries: u32,
}

impl Report {
    /// Records `outcome` for scenario `name` in `round` (a later result replaces an earlier one).
    pub fn set(&mut self, round: u32, name: &str, outcome: Outcome, took: Option<Duration>) {
        if let Some(entry) = self
            .results
            .iter_mut()
            .find(|e| e.round == round && e.name == name)
        {
            entry.outcome = outcome;
            entry.took = took.or(entry.took);
        } else {
            self.results.push(Entry {
                round,
                name: name.to_owned(),
                outcome,
                took,
            });
        }
    }

    /// Whether scenario `name` has a result in `round`.
    pub fn has(&self, round: u32, name: &str) -> bool {
        self.results
            .iter()
            .any(|e| e.round == round && e.name == name)
    }

    /// Records an emulator-fault retry of `name` in `round`.
    pub fn retry(&mut self, round: u32, name: &str, detail: &str) {
        self.retries.push(Retry {
            round,
            name: name.to_owned(),
            detail: detail.to_owned(),
        });
    }

    fn outcome(&self, round: u32, name: &str) -> Option<&Outcome> {
        self.results
            .iter()
            .find(|e| e.round == round && e.name == name)
            .map(|e| &e.outcome)
    }

    /// Per scenario of `order`: passes out of `rounds`, min/median/max time, retries.
    pub fn summary(&self, order: &[String], rounds: u32) -> Vec<Summary> {
        order
            .iter()
            .map(|name| {
                let passed = (1..=rounds)
                    .filter(|&r| matches!(self.outcome(r, name), Some(Outcome::Pass(_))))
                    .count();
                let mut times: Vec<Duration> = self
                    .results
                    .iter()
                    .filter(|e| &e.name == name && e.round >= 1 && e.round <= rounds)
                    .filter_map(|e| e.took)
                    .collect();
                times.sort_unstable();
                let spread = match (times.first(), times.get(times.len() / 2), times.last()) {
                    (Some(&min), Some(&median), Some(&max)) => Some((min, median, max)),
                    _ => None,
                };
                let retries = self.retries.iter().filter(|r| &r.name == name).count();
                Summary {
                    name: name.clone(),
                    passed: u32::try_from(passed).unwrap_or(u32::MAX),
                    rounds,
                    times: spread,
                    retries: u32::try_from(retries).unwrap_or(u32::MAX),
                }
            })
            .collect()
    }

    /// Prints every result line (per round when there is more than one), the summary of a
    /// repeated run and the final count (one per scenario and round); `Err` if anything failed
    /// or has no result.
    pub fn finish(&self, order: &[String], rounds: u32, elapsed: Duration) -> Result<(), String> {
        println!();
        println!("testbed results ({:.0}s):", elapsed.as_secs_f64());
        for retry in &self.boot_retries {
            println!("RETRY {retry}");
        }
        for retry in &self.retries {
            if rounds > 1 {
                println!(
                    "RETRY round {} {} {}",
                    retry.round, retry.name, retry.detail
                );
            } else {
                println!("RETRY {} {}", retry.name, retry.detail);
            }
        }
        let (mut passed, mut failed) = (0, 0);
        let mut not_run = Vec::new();
        for round in 1..=rounds {
            let tag = if rounds > 1 {
                format!(" (round {round})")
            } else {
                String::new()
            };
            for name in order {
                match self.outcome(round, name) {
                    Some(Outcome::Pass(_)) => {
                        passed += 1;
                        println!("PASS {name}{tag}");
                    }
                    Some(Outcome::Fail(reason)) => {
                        failed += 1;
                        println!("FAIL {name}{tag}: {reason}");
                    }
                    Some(Outcome::NotRun(reason)) => {
                        println!("NOT RUN {name}{tag}: {reason}");
                        not_run.push(format!("{name}{tag}"));
                    }
                    None => {
                        failed += 1;
                        println!("FAIL {name}{tag}: no result");
                    }
                }
            }
        }
        if rounds > 1 {
            println!("summary over {rounds} rounds (passed/rounds, time min/median/max, emulator-fault retries):");
            for s in self.summary(order, rounds) {
                let times = match s.times {
                    Some((min, median, max)) => format!(
                        "{:.0}/{:.0}/{:.0}s",
                        min.as_secs_f64(),
                        median.as_secs_f64(),
                        max.as_secs_f64()
                    ),
                    None => "-".to_owned(),
                };
                println!(
                    "  {:<16} {}/{} passed  {times}  retries {}",
                    s.name, s.passed, s.rounds, s.retries
                );
            }
        }
        if self.emulator_faults > 0 {
            println!(
                "emulator faults on the Xen console: {} (retried scenarios: {})",
                self.emulator_faults,
                self.retries.len()
            );
        }
        if !not_run.is_empty() {
            println!("{} not run: {}", not_run.len(), not_run.join(", "));
        }
        println!("{passed} passed, {failed} failed");
        if failed > 0 {
            Err(format!("{failed} testbed scenario result(s) failed"))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Outcome, Report};
    use std::time::Duration;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn not_run_is_not_a_pass_and_failures_fail() {
        let order = names(&["a", "b", "c"]);
        let mut report = Report::default();
        report.set(1, "a", Outcome::Pass(String::new()), None);
        report.set(1, "b", Outcome::NotRun("no guest".into()), None);
        report.set(1, "c", Outcome::Pass(String::new()), None);
        assert!(report.finish(&order, 1, Duration::ZERO).is_ok());
        report.set(1, "c", Outcome::Fail("boom".into()), None);
        assert!(report.finish(&order, 1, Duration::ZERO).is_err());
        // A scenario without any result is a failure.
        let report = Report::default();
        assert!(report.finish(&order[..1], 1, Duration::ZERO).is_err());
    }

    #[test]
    fn every_round_needs_its_own_result() {
        let order = names(&["a"]);
        let mut report = Report::default();
        report.set(1, "a", Outcome::Pass(String::new()), None);
        report.set(2, "a", Outcome::Pass(String::new()), None);
        assert!(report.finish(&order, 2, Duration::ZERO).is_ok());
        // Round 3 never reported: the run fails although every reported round passed.
        assert!(report.finish(&order, 3, Duration::ZERO).is_err());
        assert!(report.has(2, "a") && !report.has(3, "a"));
    }

    #[test]
    fn summary_counts_passes_times_and_retries_per_scenario() {
        let order = names(&["a", "b"]);
        let mut report = Report::default();
        let secs = Duration::from_secs;
        report.set(1, "a", Outcome::Pass(String::new()), Some(secs(30)));
        report.set(2, "a", Outcome::Fail("x".into()), Some(secs(10)));
        report.set(3, "a", Outcome::Pass(String::new()), Some(secs(20)));
        report.set(1, "b", Outcome::Pass(String::new()), Some(secs(5)));
        report.retry(2, "a", "attempt 1: emulator fault");
        let summary = report.summary(&order, 3);
        assert_eq!(summary[0].passed, 2);
        assert_eq!(summary[0].rounds, 3);
        assert_eq!(summary[0].times, Some((secs(10), secs(20), secs(30))));
        assert_eq!(summary[0].retries, 1);
        assert_eq!(summary[1].passed, 1);
        assert_eq!(summary[1].times, Some((secs(5), secs(5), secs(5))));
        assert_eq!(summary[1].retries, 0);
    }

    #[test]
    fn a_later_result_of_the_same_round_replaces_the_earlier() {
        let order = names(&["a"]);
        let mut report = Report::default();
        report.set(
            1,
            "a",
            Outcome::Fail("first".into()),
            Some(Duration::from_secs(3)),
        );
        report.set(1, "a", Outcome::Pass(String::new()), None);
        assert!(report.finish(&order, 1, Duration::ZERO).is_ok());
        assert_eq!(
            report.summary(&order, 1)[0].times,
            Some((
                Duration::from_secs(3),
                Duration::from_secs(3),
                Duration::from_secs(3)
            ))
        );
    }
}
