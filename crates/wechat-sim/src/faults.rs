//! Fault injection: which calls and pushes misbehave, and how.

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};

use crate::errors::SimError;

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// API: answer this errcode (HTTP 200 JSON) without doing anything.
    Errcode {
        /// E.g. -1, 40001, 42001, 45009, 72011, 72012, 40056.
        errcode: i64,
        /// Overrides WeChat's message for `errcode`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        errmsg: Option<String>,
    },
    /// API: do the work, then hold the answer back `ms` milliseconds (so a client that times out
    /// does not know the call took effect). Push: start delivering `ms` milliseconds late.
    Delay {
        /// Milliseconds.
        ms: u64,
    },
    /// API: close the connection without a usable answer. With `apply` the call takes effect first.
    Drop {
        /// Whether the call takes effect before the connection is dropped.
        #[serde(default)]
        apply: bool,
    },
    /// Push: deliver the event twice (the second as a separate record with `duplicate_of`).
    Duplicate,
    /// Push: hold the event until the next push of the simulator has been delivered (or
    /// `reorder_hold` passed), so the two arrive in the opposite order.
    Reorder,
}

/// A fault rule as posted to `control/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// API path below the simulator root (`card/membercard/activate`, `cgi-bin/token`) or `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Event name (`user_get_card`) or `*`, for push faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<String>,
    /// What goes wrong.
    pub fault: FaultKind,
    /// Only the next `next` matching calls; without `next` or `probability`, every call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u32>,
    /// Each matching call with this probability, drawn from a seeded `StdRng`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Seed of this rule's random draws; defaults to the simulator seed plus the rule id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// A stored rule with its counters.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRule {
    /// Rule id.
    pub id: u64,
    /// The rule as posted.
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Calls still to fail for a `next` rule.
    pub remaining: Option<u32>,
    /// How many times the rule fired.
    pub hits: u64,
    #[serde(skip)]
    rng: StdRng,
}

#[derive(Debug)]
pub(crate) struct Faults {
    rules: Vec<FaultRule>,
    next_id: u64,
    base_seed: Option<u64>,
}

fn norm(path: &str) -> &str {
    path.trim_matches('/')
}

impl Faults {
    pub(crate) fn new(base_seed: Option<u64>) -> Self {
        Self {
            rules: Vec::new(),
            next_id: 1,
            base_seed,
        }
    }

    pub(crate) fn add(&mut self, spec: FaultSpec) -> Result<FaultRule, SimError> {
        match (&spec.path, &spec.push) {
            (Some(_), None) => {
                if matches!(spec.fault, FaultKind::Duplicate | FaultKind::Reorder) {
                    return Err(SimError::Invalid(
                        "duplicate and reorder apply to pushes, not API paths".into(),
                    ));
                }
            }
            (None, Some(_)) => {
                if matches!(
                    spec.fault,
                    FaultKind::Errcode { .. } | FaultKind::Drop { .. }
                ) {
                    return Err(SimError::Invalid(
                        "pushes take duplicate, delay or reorder faults".into(),
                    ));
                }
            }
            _ => {
                return Err(SimError::Invalid(
                    "give exactly one of path and push".into(),
                ))
            }
        }
        if spec.next.is_some() && spec.probability.is_some() {
            return Err(SimError::Invalid(
                "give at most one of next and probability".into(),
            ));
        }
        if let Some(p) = spec.probability {
            if !(0.0..=1.0).contains(&p) {
                return Err(SimError::Invalid("probability must be within 0..=1".into()));
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let rng = match spec.seed.or(self.base_seed.map(|s| s.wrapping_add(id))) {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let rule = FaultRule {
            id,
            remaining: spec.next,
            spec,
            hits: 0,
            rng,
        };
        self.rules.push(rule.clone());
        Ok(rule)
    }

    pub(crate) fn list(&self) -> Vec<FaultRule> {
        self.rules.clone()
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    pub(crate) fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|rule| rule.id != id);
        self.rules.len() < before
    }

    pub(crate) fn take_api(&mut self, path: &str) -> Option<FaultKind> {
        self.take(|spec| {
            spec.path
                .as_deref()
                .is_some_and(|p| norm(p) == "*" || norm(p) == norm(path))
        })
    }

    pub(crate) fn take_push(&mut self, event: &str) -> Option<FaultKind> {
        self.take(|spec| spec.push.as_deref().is_some_and(|p| p == "*" || p == event))
    }

    fn take(&mut self, matches: impl Fn(&FaultSpec) -> bool) -> Option<FaultKind> {
        let mut fired = None;
        for (i, rule) in self.rules.iter_mut().enumerate() {
            if !matches(&rule.spec) {
                continue;
            }
            let hit = match (rule.remaining, rule.spec.probability) {
                (Some(n), _) => n > 0,
                (None, Some(p)) => rule.rng.gen_bool(p),
                (None, None) => true,
            };
            if hit {
                rule.hits += 1;
                if let Some(n) = rule.remaining.as_mut() {
                    *n -= 1;
                }
                fired = Some((i, rule.spec.fault.clone()));
                break;
            }
        }
        let (i, fault) = fired?;
        if self.rules[i].remaining == Some(0) {
            self.rules.remove(i);
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(next: Option<u32>, probability: Option<f64>) -> FaultSpec {
        FaultSpec {
            path: Some("/cgi-bin/token".into()),
            push: None,
            fault: FaultKind::Errcode {
                errcode: -1,
                errmsg: None,
            },
            next,
            probability,
            seed: Some(7),
        }
    }

    #[test]
    fn next_n_fires_exactly_n_times_then_disappears() {
        let mut f = Faults::new(None);
        f.add(spec(Some(2), None)).unwrap();
        assert!(f.take_api("cgi-bin/token").is_some());
        assert!(f.take_api("card/get").is_none());
        assert!(f.take_api("cgi-bin/token/").is_some());
        assert!(f.take_api("cgi-bin/token").is_none());
        assert!(f.list().is_empty());
    }

    #[test]
    fn probability_draws_repeat_with_the_same_seed() {
        let draw = || {
            let mut f = Faults::new(None);
            f.add(spec(None, Some(0.5))).unwrap();
            (0..64)
                .map(|_| f.take_api("cgi-bin/token").is_some())
                .collect::<Vec<_>>()
        };
        let a = draw();
        assert_eq!(a, draw());
        assert!(a.iter().any(|x| *x) && a.iter().any(|x| !*x));
    }

    #[test]
    fn push_kinds_are_refused_on_paths() {
        let mut f = Faults::new(None);
        let mut s = spec(None, None);
        s.fault = FaultKind::Reorder;
        assert!(f.add(s).is_err());
    }
}
