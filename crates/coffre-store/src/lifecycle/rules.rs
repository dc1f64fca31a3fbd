//! Lifecycle configurations as a bucket keeps them (validated by the S3 layer, which reads
//! AWS's XML), and what they decide for one version: pure functions of the rules, the version
//! and the time, so the worker and the `x-amz-expiration` header can never disagree.
//!
//! Days count as AWS counts them: a rule of N days is due at the first midnight UTC at or after
//! the version's start (creation, or the moment it became noncurrent) plus N days. A test-only
//! setting shortens the day ([`LifecycleDay::shortened`]); midnights are then multiples of
//! the short day since the epoch.

use serde::{Deserialize, Serialize};

use crate::records::{ObjectRecord, UnixNanos, Version};

/// A bucket's lifecycle configuration: its rules, in the order they were given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleConfiguration {
    /// The rules (at least one).
    pub rules: Vec<LifecycleRule>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    /// Its id, unique in the configuration (at most 255 characters).
    pub id: String,
    /// `Status` Enabled; a disabled rule is kept and does nothing.
    pub enabled: bool,
    /// Which versions it applies to.
    pub filter: LifecycleFilter,
    /// Expiration of current versions (or of delete markers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Expiration>,
    /// Expiration of noncurrent versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_expiration: Option<NoncurrentExpiration>,
    /// Days after initiation at which incomplete multipart uploads are aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_incomplete_upload_days: Option<u32>,
}

impl LifecycleRule {
    /// An enabled rule with no action yet.
    pub fn enabled(id: &str, filter: LifecycleFilter) -> LifecycleRule {
        LifecycleRule {
            id: id.to_owned(),
            enabled: true,
            filter,
            expiration: None,
            noncurrent_expiration: None,
            abort_incomplete_upload_days: None,
        }
    }
}

/// A tag a filter requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterTag {
    pub key: String,
    pub value: String,
}

/// A rule's filter, in the form it was given (GetBucketLifecycleConfiguration answers it back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifecycleFilter {
    /// The rule-level `<Prefix>` of the form before filters existed.
    LegacyPrefix(String),
    /// An empty `<Filter/>`: every object.
    All,
    /// `<Filter><Prefix>`.
    Prefix(String),
    /// `<Filter><Tag>`.
    Tag(FilterTag),
    /// `<Filter><ObjectSizeGreaterThan>`.
    SizeGreaterThan(u64),
    /// `<Filter><ObjectSizeLessThan>`.
    SizeLessThan(u64),
    /// `<Filter><And>`: all of these.
    And { prefix: Option<String>, tags: Vec<FilterTag>, size_greater_than: Option<u64>, size_less_than: Option<u64> },
}

/// A rule's `Expiration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiration {
    /// Current versions expire this many days after they were written; delete markers left
    /// alone once as old are removed too, as AWS does.
    Days(u32),
    /// Current versions expire from this date (midnight UTC) on.
    Date(UnixNanos),
    /// Delete markers that are the only version of their key are removed.
    ExpiredObjectDeleteMarker,
}

/// A rule's `NoncurrentVersionExpiration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentExpiration {
    /// Days after a version became noncurrent.
    pub noncurrent_days: u32,
    /// How many of the newest noncurrent versions are kept whatever their age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_noncurrent_versions: Option<u32>,
}

/// The length of a lifecycle day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleDay {
    ns: i64,
}

const NS_PER_DAY: i64 = 86_400 * 1_000_000_000;

impl Default for LifecycleDay {
    fn default() -> Self {
        LifecycleDay { ns: NS_PER_DAY }
    }
}

impl LifecycleDay {
    /// Test-only: a day of `seconds` (at least one), so that rules of days run in seconds.
    pub fn shortened(seconds: u64) -> LifecycleDay {
        let ns = i64::try_from(seconds.max(1)).unwrap_or(86_400).saturating_mul(1_000_000_000);
        LifecycleDay { ns: ns.min(NS_PER_DAY) }
    }

    /// Whether this is a shortened day.
    pub fn is_shortened(self) -> bool {
        self.ns != NS_PER_DAY
    }

    /// The day's length in nanoseconds.
    pub fn as_nanos(self) -> i64 {
        self.ns
    }

    /// When `days` after `start` are over: the first midnight at or after `start + days`.
    pub fn due(self, start: UnixNanos, days: u32) -> UnixNanos {
        let end = start.saturating_add(self.ns.saturating_mul(i64::from(days)));
        let rem = end.rem_euclid(self.ns);
        if rem == 0 { end } else { end.saturating_add(self.ns - rem) }
    }
}

/// What a version looks like to a filter: its key, tags and size.
pub struct Candidate<'a> {
    pub key: &'a str,
    pub tags: &'a [(String, String)],
    pub size_bytes: u64,
}

impl<'a> Candidate<'a> {
    /// The candidate a version is (a delete marker has no tags and no size).
    pub fn of(key: &'a str, version: &'a Version) -> Candidate<'a> {
        match version {
            Version::Object(o) => Candidate { key, tags: &o.attributes.tags, size_bytes: o.size_bytes },
            Version::DeleteMarker(_) => Candidate { key, tags: &[], size_bytes: 0 },
        }
    }
}

fn has_tag(tags: &[(String, String)], tag: &FilterTag) -> bool {
    tags.iter().any(|(k, v)| *k == tag.key && *v == tag.value)
}

impl LifecycleFilter {
    /// Whether the filter selects `candidate`.
    pub fn matches(&self, c: &Candidate<'_>) -> bool {
        match self {
            LifecycleFilter::All => true,
            LifecycleFilter::LegacyPrefix(p) | LifecycleFilter::Prefix(p) => c.key.starts_with(p.as_str()),
            LifecycleFilter::Tag(tag) => has_tag(c.tags, tag),
            LifecycleFilter::SizeGreaterThan(n) => c.size_bytes > *n,
            LifecycleFilter::SizeLessThan(n) => c.size_bytes < *n,
            LifecycleFilter::And { prefix, tags, size_greater_than, size_less_than } => {
                prefix.as_deref().is_none_or(|p| c.key.starts_with(p))
                    && tags.iter().all(|t| has_tag(c.tags, t))
                    && size_greater_than.is_none_or(|n| c.size_bytes > n)
                    && size_less_than.is_none_or(|n| c.size_bytes < n)
            }
        }
    }

    /// Whether it names tags (tag filters never select delete markers or uploads).
    pub fn uses_tags(&self) -> bool {
        match self {
            LifecycleFilter::Tag(_) => true,
            LifecycleFilter::And { tags, .. } => !tags.is_empty(),
            _ => false,
        }
    }

    /// Whether it names object sizes (which uploads in progress do not have yet).
    pub fn uses_sizes(&self) -> bool {
        match self {
            LifecycleFilter::SizeGreaterThan(_) | LifecycleFilter::SizeLessThan(_) => true,
            LifecycleFilter::And { size_greater_than, size_less_than, .. } => {
                size_greater_than.is_some() || size_less_than.is_some()
            }
            _ => false,
        }
    }

    /// The key prefix it requires, if any.
    pub fn prefix(&self) -> &str {
        match self {
            LifecycleFilter::LegacyPrefix(p) | LifecycleFilter::Prefix(p) => p,
            LifecycleFilter::And { prefix: Some(p), .. } => p,
            _ => "",
        }
    }
}

/// What lifecycle does to one version, and under which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The action.
    pub expiry: crate::Expiry,
    /// The id of the rule that decided it.
    pub rule_id: String,
    /// The version it acts on, as clients name it (`None`: the null version of a bucket that
    /// never had versioning).
    pub version_id: Option<String>,
}

impl LifecycleConfiguration {
    fn enabled(&self) -> impl Iterator<Item = &LifecycleRule> {
        self.rules.iter().filter(|r| r.enabled)
    }

    /// When the current object `record` of `key` expires, and by which rule: the earliest
    /// `Expiration` (Days or Date) of an enabled rule that selects it. For `x-amz-expiration`
    /// and for the worker.
    pub fn current_expiry(&self, key: &str, record: &ObjectRecord, day: LifecycleDay) -> Option<(UnixNanos, &str)> {
        let candidate = Candidate { key, tags: &record.attributes.tags, size_bytes: record.size_bytes };
        self.enabled()
            .filter(|r| r.filter.matches(&candidate))
            .filter_map(|r| {
                let at = match r.expiration? {
                    Expiration::Days(n) => day.due(record.last_modified_ns, n),
                    Expiration::Date(at) => at,
                    Expiration::ExpiredObjectDeleteMarker => return None,
                };
                Some((at, r.id.as_str()))
            })
            .min_by_key(|(at, _)| *at)
    }

    /// The rule under which a delete marker of `key` written at `marker_ns`, and now the key's
    /// only version, is removed at `now`.
    pub fn lone_marker_expiry(
        &self,
        key: &str,
        marker_ns: UnixNanos,
        day: LifecycleDay,
        now: UnixNanos,
    ) -> Option<&str> {
        let candidate = Candidate { key, tags: &[], size_bytes: 0 };
        self.enabled().filter(|r| !r.filter.uses_tags() && r.filter.matches(&candidate)).find_map(|r| {
            let due = match r.expiration? {
                Expiration::ExpiredObjectDeleteMarker => true,
                Expiration::Days(n) => day.due(marker_ns, n) <= now,
                Expiration::Date(_) => false,
            };
            due.then_some(r.id.as_str())
        })
    }

    /// The rule under which a noncurrent version is removed at `now`: it became noncurrent at
    /// `noncurrent_since` and `newer` noncurrent versions of its key are newer than it.
    pub fn noncurrent_expiry(
        &self,
        candidate: &Candidate<'_>,
        (noncurrent_since, newer): (UnixNanos, u32),
        day: LifecycleDay,
        now: UnixNanos,
    ) -> Option<&str> {
        self.enabled().filter(|r| r.filter.matches(candidate)).find_map(|r| {
            let n = r.noncurrent_expiration?;
            let kept = n.newer_noncurrent_versions.is_some_and(|k| newer < k);
            (!kept && day.due(noncurrent_since, n.noncurrent_days) <= now).then_some(r.id.as_str())
        })
    }

    /// The rule under which an upload of `key` initiated at `initiated_ns` is aborted at `now`.
    pub fn upload_abort(&self, key: &str, initiated_ns: UnixNanos, day: LifecycleDay, now: UnixNanos) -> Option<&str> {
        self.enabled().filter(|r| key.starts_with(r.filter.prefix())).find_map(|r| {
            let days = r.abort_incomplete_upload_days?;
            (day.due(initiated_ns, days) <= now).then_some(r.id.as_str())
        })
    }
}

/// Walks one key's versions, newest first, and decides what lifecycle does to each.
pub struct KeyWalk<'c> {
    config: &'c LifecycleConfiguration,
    day: LifecycleDay,
    now: UnixNanos,
    key: String,
    /// Versions seen so far.
    seen: u32,
    /// When the version seen last was written (the next one became noncurrent then).
    newer_written_ns: UnixNanos,
    /// The latest version, a delete marker, while it may still be the key's only version:
    /// its rank, when it was written and its version id.
    lone_marker: Option<(u64, UnixNanos, Option<String>)>,
}

impl<'c> KeyWalk<'c> {
    /// A walk over `key`'s versions.
    pub fn new(config: &'c LifecycleConfiguration, day: LifecycleDay, now: UnixNanos, key: String) -> KeyWalk<'c> {
        KeyWalk { config, day, now, key, seen: 0, newer_written_ns: 0, lone_marker: None }
    }

    /// The key walked.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The decision for the next version (ranked `rank`), if any. Locked versions are
    /// decided too: the engine refuses to remove them, and the worker counts them as kept.
    pub fn visit(&mut self, rank: u64, version: &Version) -> Option<Decision> {
        let position = self.seen;
        self.seen = self.seen.saturating_add(1);
        let written = match version {
            Version::Object(o) => o.last_modified_ns,
            Version::DeleteMarker(m) => m.last_modified_ns,
        };
        let became_noncurrent = std::mem::replace(&mut self.newer_written_ns, written);
        let version_id = version.version_id().map(str::to_owned);
        if position == 0 {
            return match version {
                Version::Object(o) => {
                    let (at, rule) = self.config.current_expiry(&self.key, o, self.day)?;
                    (at <= self.now).then(|| Decision {
                        expiry: crate::Expiry::Current { rank },
                        rule_id: rule.to_owned(),
                        version_id,
                    })
                }
                Version::DeleteMarker(m) => {
                    self.lone_marker = Some((rank, m.last_modified_ns, version_id));
                    None
                }
            };
        }
        self.lone_marker = None;
        let candidate = Candidate::of(&self.key, version);
        let rule = self.config.noncurrent_expiry(&candidate, (became_noncurrent, position - 1), self.day, self.now)?;
        Some(Decision { expiry: crate::Expiry::Noncurrent { rank }, rule_id: rule.to_owned(), version_id })
    }

    /// The decision once the key's versions are all seen: its latest version, a delete marker
    /// with nothing behind it, may be removed.
    pub fn finish(self) -> Option<Decision> {
        let (rank, written, version_id) = self.lone_marker?;
        let rule = self.config.lone_marker_expiry(&self.key, written, self.day, self.now)?;
        Some(Decision { expiry: crate::Expiry::LoneDeleteMarker { rank }, rule_id: rule.to_owned(), version_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::DeleteMarker;

    const DAY: i64 = NS_PER_DAY;

    fn rule(id: &str, filter: LifecycleFilter) -> LifecycleRule {
        LifecycleRule::enabled(id, filter)
    }

    fn marker(at: i64) -> Version {
        Version::DeleteMarker(DeleteMarker { version_id: Some("m".into()), last_modified_ns: at })
    }

    fn object(at: i64, size: u64, tags: &[(&str, &str)]) -> Version {
        let json = format!(
            r#"{{"version_id":"v","size_bytes":{size},"etag":"e","last_modified_ns":{at},"attributes":{{"headers":{{}},"user_metadata":{{}},"tags":[],"public_read":false}},"checksum":null,"part_sizes":[],"layout":{{"Chunks":[]}},"encryption":{{"mode":"S3","key_id":"k","customer":null}}}}"#
        );
        let mut o: ObjectRecord = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        o.attributes.tags = tags.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Version::Object(Box::new(o))
    }

    #[test]
    fn days_end_at_the_next_midnight() {
        let day = LifecycleDay::default();
        assert_eq!(day.due(0, 1), DAY);
        assert_eq!(day.due(DAY / 2, 1), 2 * DAY, "half a day in, plus one day, rounds up to midnight");
        assert_eq!(day.due(DAY - 1, 3), 4 * DAY);
        let short = LifecycleDay::shortened(2);
        assert!(short.is_shortened());
        assert_eq!(short.due(1, 1), 4_000_000_000);
    }

    #[test]
    fn filters_select_by_prefix_tags_and_size() {
        let tags = [("class".to_owned(), "tmp".to_owned())];
        let c = Candidate { key: "logs/a", tags: &tags, size_bytes: 10 };
        assert!(LifecycleFilter::All.matches(&c));
        assert!(LifecycleFilter::Prefix("logs/".into()).matches(&c));
        assert!(!LifecycleFilter::LegacyPrefix("img/".into()).matches(&c));
        assert!(LifecycleFilter::Tag(FilterTag { key: "class".into(), value: "tmp".into() }).matches(&c));
        assert!(!LifecycleFilter::Tag(FilterTag { key: "class".into(), value: "keep".into() }).matches(&c));
        assert!(LifecycleFilter::SizeGreaterThan(9).matches(&c));
        assert!(!LifecycleFilter::SizeLessThan(10).matches(&c));
        let and = |lt| LifecycleFilter::And {
            prefix: Some("logs/".into()),
            tags: vec![FilterTag { key: "class".into(), value: "tmp".into() }],
            size_greater_than: Some(5),
            size_less_than: Some(lt),
        };
        assert!(and(11).matches(&c));
        assert!(!and(10).matches(&c), "every condition of And must hold");
    }

    #[test]
    fn a_walk_expires_current_noncurrent_and_lone_markers() {
        let mut expire = rule("current", LifecycleFilter::All);
        expire.expiration = Some(Expiration::Days(1));
        let mut noncurrent = rule("noncurrent", LifecycleFilter::All);
        noncurrent.noncurrent_expiration =
            Some(NoncurrentExpiration { noncurrent_days: 1, newer_noncurrent_versions: Some(1) });
        let config = LifecycleConfiguration { rules: vec![expire, noncurrent] };
        let day = LifecycleDay::default();
        let now = 10 * DAY;
        // The latest, written just now, is not due. Of the two noncurrent versions, the newer
        // is kept by NewerNoncurrentVersions; the older became noncurrent on day 2: expired.
        let mut walk = KeyWalk::new(&config, day, now, "k".into());
        assert_eq!(walk.visit(1, &object(now - 10, 1, &[])), None, "written today: not yet due");
        assert_eq!(walk.visit(2, &object(2 * DAY, 1, &[])), None, "kept: the newest noncurrent version");
        let d = walk.visit(3, &object(DAY, 1, &[])).unwrap_or_else(|| panic!("due"));
        assert_eq!((d.expiry, d.rule_id.as_str()), (crate::Expiry::Noncurrent { rank: 3 }, "noncurrent"));
        assert_eq!(walk.finish(), None);

        let mut walk = KeyWalk::new(&config, day, now, "k".into());
        let d = walk.visit(1, &object(DAY, 1, &[])).unwrap_or_else(|| panic!("due"));
        assert_eq!(d.expiry, crate::Expiry::Current { rank: 1 });

        // A delete marker alone, old enough for the Days rule: removed; with a version behind
        // it: kept.
        let mut walk = KeyWalk::new(&config, day, now, "k".into());
        assert_eq!(walk.visit(1, &marker(DAY)), None);
        assert_eq!(walk.finish().map(|d| d.expiry), Some(crate::Expiry::LoneDeleteMarker { rank: 1 }));
        let mut walk = KeyWalk::new(&config, day, now, "k".into());
        assert_eq!(walk.visit(1, &marker(now - 1)), None);
        assert_eq!(walk.finish(), None, "a marker written today is not yet old enough");
        let mut walk = KeyWalk::new(&config, day, now, "k".into());
        let _ = walk.visit(1, &marker(DAY));
        let _ = walk.visit(2, &object(now - 5, 1, &[]));
        assert_eq!(walk.finish(), None, "a marker with a version behind it stays");
    }

    #[test]
    fn the_earliest_matching_rule_names_the_expiry_and_disabled_rules_do_nothing() {
        let mut late = rule("late", LifecycleFilter::All);
        late.expiration = Some(Expiration::Days(30));
        let mut early = rule("early", LifecycleFilter::Tag(FilterTag { key: "t".into(), value: "1".into() }));
        early.expiration = Some(Expiration::Days(2));
        let mut off = rule("off", LifecycleFilter::All);
        off.expiration = Some(Expiration::Days(1));
        off.enabled = false;
        let config = LifecycleConfiguration { rules: vec![late, early, off] };
        let day = LifecycleDay::default();
        let Version::Object(tagged) = object(0, 1, &[("t", "1")]) else { unreachable!() };
        assert_eq!(config.current_expiry("k", &tagged, day), Some((2 * DAY, "early")));
        let Version::Object(plain) = object(0, 1, &[]) else { unreachable!() };
        assert_eq!(config.current_expiry("k", &plain, day), Some((30 * DAY, "late")));
    }
}
