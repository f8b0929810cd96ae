//! Agent resources as the local cluster accounts for them: unreserved
//! scalars (fixed point, 3 decimals, as Mesos's `Value::Scalar`), ranges and
//! sets, keyed by name. Parses the agent `--resources` syntax
//! (`cpus:4;mem:4096;ports:[31000-32000];zones:{a,b}`), converts to and from
//! `Resource` protobufs, and does the add / subtract / contains arithmetic
//! the master needs for offers and launches.
//!
//! May import: nothing of the cluster; everything else may import it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value as Json};
use thiserror::Error;

use crate::wire::pb;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ResourceError {
    #[error("invalid resource '{0}': {1}")]
    Invalid(String, String),
    #[error("resource '{0}': {1} resources are not supported by the local cluster")]
    Unsupported(String, &'static str),
}

fn invalid(name: &str, msg: impl Into<String>) -> ResourceError {
    ResourceError::Invalid(name.to_string(), msg.into())
}

/// The value of one named resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quantity {
    /// Thousandths (Mesos keeps 3 decimal digits).
    Scalar(i64),
    /// Sorted, merged, inclusive ranges.
    Ranges(Vec<(u64, u64)>),
    Set(BTreeSet<String>),
}

impl Quantity {
    fn is_empty(&self) -> bool {
        match self {
            Quantity::Scalar(v) => *v <= 0,
            Quantity::Ranges(r) => r.is_empty(),
            Quantity::Set(s) => s.is_empty(),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Quantity::Scalar(_) => "SCALAR",
            Quantity::Ranges(_) => "RANGES",
            Quantity::Set(_) => "SET",
        }
    }
}

/// A bag of unreserved resources. Equality ignores order; listing order
/// (protobufs, text) is Mesos's: ranges and sets first, then scalars, each
/// kind in the order its names first came in (for an agent, the order of
/// `--resources`).
#[derive(Debug, Clone, Default)]
pub struct Resources {
    items: BTreeMap<String, Quantity>,
    /// The names of `items`, in arrival order.
    order: Vec<String>,
}

impl PartialEq for Resources {
    fn eq(&self, other: &Self) -> bool {
        self.items == other.items
    }
}

impl Eq for Resources {}

/// Converts a double to fixed-point thousandths, as Mesos does.
pub fn to_milli(v: f64) -> i64 {
    (v * 1000.0).round() as i64
}

pub fn from_milli(v: i64) -> f64 {
    v as f64 / 1000.0
}

fn merge_ranges(mut r: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    r.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(r.len());
    for (b, e) in r {
        match out.last_mut() {
            Some(last) if b <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => out.push((b, e)),
        }
    }
    out
}

fn subtract_ranges(have: &[(u64, u64)], take: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = have.to_vec();
    for &(tb, te) in take {
        let mut next = Vec::with_capacity(out.len() + 1);
        for (b, e) in out {
            if te < b || tb > e {
                next.push((b, e));
                continue;
            }
            if tb > b {
                next.push((b, tb - 1));
            }
            if te < e {
                next.push((te + 1, e));
            }
        }
        out = next;
    }
    out
}

fn ranges_contain(have: &[(u64, u64)], want: &[(u64, u64)]) -> bool {
    want.iter()
        .all(|&(wb, we)| have.iter().any(|&(b, e)| b <= wb && we <= e))
}

fn format_ranges(r: &[(u64, u64)]) -> String {
    let parts: Vec<String> = r.iter().map(|(b, e)| format!("{b}-{e}")).collect();
    format!("[{}]", parts.join(", "))
}

fn format_set(s: &BTreeSet<String>) -> String {
    let parts: Vec<&str> = s.iter().map(String::as_str).collect();
    format!("{{{}}}", parts.join(", "))
}

impl Resources {
    pub fn new() -> Self {
        Resources::default()
    }

    /// Parses the agent resource syntax: `name:value` items separated by
    /// `;`, where a value is a number, `[a-b,c-d]` or `{x,y}`.
    pub fn parse(text: &str) -> Result<Resources, ResourceError> {
        let mut out = Resources::new();
        for item in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = item
                .split_once(':')
                .ok_or_else(|| invalid(item, "expected 'name:value'"))?;
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() {
                return Err(invalid(item, "empty name"));
            }
            if name.contains('(') {
                return Err(ResourceError::Unsupported(name.to_string(), "reserved"));
            }
            let q = if let Some(inner) = value.strip_prefix('[') {
                let inner = inner
                    .strip_suffix(']')
                    .ok_or_else(|| invalid(name, "unterminated range list"))?;
                let mut ranges = vec![];
                for r in inner.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let (b, e) = r
                        .split_once('-')
                        .ok_or_else(|| invalid(name, format!("bad range '{r}'")))?;
                    let b: u64 = b
                        .trim()
                        .parse()
                        .map_err(|_| invalid(name, format!("bad range '{r}'")))?;
                    let e: u64 = e
                        .trim()
                        .parse()
                        .map_err(|_| invalid(name, format!("bad range '{r}'")))?;
                    if b > e {
                        return Err(invalid(name, format!("bad range '{r}'")));
                    }
                    ranges.push((b, e));
                }
                Quantity::Ranges(merge_ranges(ranges))
            } else if let Some(inner) = value.strip_prefix('{') {
                let inner = inner
                    .strip_suffix('}')
                    .ok_or_else(|| invalid(name, "unterminated set"))?;
                Quantity::Set(
                    inner
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect(),
                )
            } else {
                let v: f64 = value
                    .parse()
                    .map_err(|_| invalid(name, format!("bad scalar '{value}'")))?;
                if !v.is_finite() || v < 0.0 {
                    return Err(invalid(name, format!("bad scalar '{value}'")));
                }
                Quantity::Scalar(to_milli(v))
            };
            out.add_one(name, q)?;
        }
        Ok(out)
    }

    /// Validates and collects `Resource` protobufs. Reserved, persistent,
    /// revocable, shared and provider resources are refused (the local
    /// cluster only has unreserved agent resources).
    #[allow(deprecated)]
    pub fn from_proto(list: &[pb::Resource]) -> Result<Resources, ResourceError> {
        let mut out = Resources::new();
        for r in list {
            let name = r.name.as_str();
            if name.is_empty() {
                return Err(invalid(name, "empty name"));
            }
            if r.role.as_deref().is_some_and(|role| role != "*")
                || r.reservation.is_some()
                || !r.reservations.is_empty()
            {
                return Err(ResourceError::Unsupported(name.to_string(), "reserved"));
            }
            if r.disk.is_some() {
                return Err(ResourceError::Unsupported(name.to_string(), "disk-info"));
            }
            if r.revocable.is_some() {
                return Err(ResourceError::Unsupported(name.to_string(), "revocable"));
            }
            if r.shared.is_some() {
                return Err(ResourceError::Unsupported(name.to_string(), "shared"));
            }
            if r.provider_id.is_some() {
                return Err(ResourceError::Unsupported(
                    name.to_string(),
                    "resource-provider",
                ));
            }
            let q = match pb::value::Type::try_from(r.r#type) {
                Ok(pb::value::Type::Scalar) => {
                    let s = r
                        .scalar
                        .as_ref()
                        .ok_or_else(|| invalid(name, "SCALAR without 'scalar'"))?;
                    if !s.value.is_finite() || s.value < 0.0 {
                        return Err(invalid(name, format!("invalid scalar value {}", s.value)));
                    }
                    if r.ranges.is_some() || r.set.is_some() {
                        return Err(invalid(name, "SCALAR with 'ranges' or 'set'"));
                    }
                    Quantity::Scalar(to_milli(s.value))
                }
                Ok(pb::value::Type::Ranges) => {
                    let rs = r
                        .ranges
                        .as_ref()
                        .ok_or_else(|| invalid(name, "RANGES without 'ranges'"))?;
                    if r.scalar.is_some() || r.set.is_some() {
                        return Err(invalid(name, "RANGES with 'scalar' or 'set'"));
                    }
                    let mut v = vec![];
                    for rg in &rs.range {
                        if rg.begin > rg.end {
                            return Err(invalid(
                                name,
                                format!("invalid range [{}-{}]", rg.begin, rg.end),
                            ));
                        }
                        v.push((rg.begin, rg.end));
                    }
                    Quantity::Ranges(merge_ranges(v))
                }
                Ok(pb::value::Type::Set) => {
                    let s = r
                        .set
                        .as_ref()
                        .ok_or_else(|| invalid(name, "SET without 'set'"))?;
                    if r.scalar.is_some() || r.ranges.is_some() {
                        return Err(invalid(name, "SET with 'scalar' or 'ranges'"));
                    }
                    let items: BTreeSet<String> = s.item.iter().cloned().collect();
                    if items.len() != s.item.len() {
                        return Err(invalid(name, "duplicate set items"));
                    }
                    Quantity::Set(items)
                }
                _ => return Err(invalid(name, "unsupported value type")),
            };
            out.add_one(name, q)?;
        }
        Ok(out)
    }

    fn add_one(&mut self, name: &str, q: Quantity) -> Result<(), ResourceError> {
        if q.is_empty() {
            return Ok(());
        }
        match self.items.get_mut(name) {
            None => {
                self.items.insert(name.to_string(), q);
                self.order.push(name.to_string());
            }
            Some(have) => match (have, q) {
                (Quantity::Scalar(a), Quantity::Scalar(b)) => *a += b,
                (Quantity::Ranges(a), Quantity::Ranges(b)) => {
                    let mut all = std::mem::take(a);
                    all.extend(b);
                    *a = merge_ranges(all);
                }
                (Quantity::Set(a), Quantity::Set(b)) => a.extend(b),
                (have, q) => {
                    return Err(invalid(
                        name,
                        format!("mixes {} and {} values", have.type_name(), q.type_name()),
                    ));
                }
            },
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn scalar(&self, name: &str) -> Option<f64> {
        match self.items.get(name) {
            Some(Quantity::Scalar(v)) => Some(from_milli(*v)),
            _ => None,
        }
    }

    /// `self + other` (mismatched types keep `self`'s value).
    pub fn add(&mut self, other: &Resources) {
        for name in &other.order {
            if let Some(q) = other.items.get(name) {
                let _ = self.add_one(name, q.clone());
            }
        }
    }

    pub fn plus(&self, other: &Resources) -> Resources {
        let mut r = self.clone();
        r.add(other);
        r
    }

    /// `self - other`, never going below zero.
    pub fn subtract(&mut self, other: &Resources) {
        for (name, q) in &other.items {
            let Some(have) = self.items.get_mut(name) else {
                continue;
            };
            match (have, q) {
                (Quantity::Scalar(a), Quantity::Scalar(b)) => *a = (*a - b).max(0),
                (Quantity::Ranges(a), Quantity::Ranges(b)) => *a = subtract_ranges(a, b),
                (Quantity::Set(a), Quantity::Set(b)) => a.retain(|x| !b.contains(x)),
                _ => {}
            }
        }
        self.items.retain(|_, q| !q.is_empty());
        let items = &self.items;
        self.order.retain(|n| items.contains_key(n));
    }

    /// Names and values in listing order: ranges and sets, then scalars.
    fn listed(&self) -> impl Iterator<Item = (&String, &Quantity)> {
        let named = |scalars: bool| {
            self.order.iter().filter_map(move |n| {
                let q = self.items.get(n)?;
                (matches!(q, Quantity::Scalar(_)) == scalars).then_some((n, q))
            })
        };
        named(false).chain(named(true))
    }

    /// The text Mesos uses in messages for resources allocated to `role`:
    /// `ports(allocated: r):[1-2]; cpus(allocated: r):0.5`.
    pub fn describe_allocated(&self, role: &str) -> String {
        if self.items.is_empty() {
            return "{}".into();
        }
        let parts: Vec<String> = self
            .listed()
            .map(|(name, q)| format!("{name}(allocated: {role}):{}", format_quantity(q)))
            .collect();
        parts.join("; ")
    }

    pub fn minus(&self, other: &Resources) -> Resources {
        let mut r = self.clone();
        r.subtract(other);
        r
    }

    /// True if every resource of `other` is available in `self`.
    pub fn contains(&self, other: &Resources) -> bool {
        other
            .items
            .iter()
            .all(|(name, want)| match (self.items.get(name), want) {
                (Some(Quantity::Scalar(a)), Quantity::Scalar(b)) => a >= b,
                (Some(Quantity::Ranges(a)), Quantity::Ranges(b)) => ranges_contain(a, b),
                (Some(Quantity::Set(a)), Quantity::Set(b)) => b.is_subset(a),
                _ => false,
            })
    }

    /// Resources worth offering (the master's default
    /// `--min_allocatable_resources=cpus:0.01|mem:32`).
    pub fn allocatable(&self) -> bool {
        self.scalar("cpus").is_some_and(|c| c >= 0.01)
            || self.scalar("mem").is_some_and(|m| m >= 32.0)
    }

    /// `Resource` protobufs. `star_role` writes the deprecated `role: "*"`
    /// (the pre-reservation-refinement format); `allocation_role` sets
    /// `allocation_info.role`.
    #[allow(deprecated)]
    pub fn to_proto(&self, star_role: bool, allocation_role: Option<&str>) -> Vec<pb::Resource> {
        self.listed()
            .map(|(name, q)| {
                let mut r = pb::Resource {
                    name: name.clone(),
                    ..Default::default()
                };
                match q {
                    Quantity::Scalar(v) => {
                        r.r#type = pb::value::Type::Scalar as i32;
                        r.scalar = Some(pb::value::Scalar {
                            value: from_milli(*v),
                        });
                    }
                    Quantity::Ranges(rs) => {
                        r.r#type = pb::value::Type::Ranges as i32;
                        r.ranges = Some(pb::value::Ranges {
                            range: rs
                                .iter()
                                .map(|&(begin, end)| pb::value::Range { begin, end })
                                .collect(),
                        });
                    }
                    Quantity::Set(s) => {
                        r.r#type = pb::value::Type::Set as i32;
                        r.set = Some(pb::value::Set {
                            item: s.iter().cloned().collect(),
                        });
                    }
                }
                if star_role {
                    r.role = Some("*".into());
                }
                if let Some(role) = allocation_role {
                    r.allocation_info = Some(pb::resource::AllocationInfo {
                        role: Some(role.to_string()),
                    });
                }
                r
            })
            .collect()
    }

    /// The flattened form of the state endpoints:
    /// `{"cpus":4.0,"gpus":0.0,"mem":4096.0,"disk":0.0,"ports":"[31000-32000]"}`.
    pub fn to_state_json(&self) -> Json {
        let mut m = Map::new();
        for k in ["cpus", "gpus", "mem", "disk"] {
            m.insert(k.into(), Json::from(0.0));
        }
        for (name, q) in &self.items {
            let v = match q {
                Quantity::Scalar(v) => Json::from(from_milli(*v)),
                Quantity::Ranges(r) => Json::from(format_ranges(r)),
                Quantity::Set(s) => Json::from(format_set(s)),
            };
            m.insert(name.clone(), v);
        }
        Json::Object(m)
    }

    /// Names and values, for iteration in tests and shares.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Quantity)> {
        self.listed().map(|(k, v)| (k.as_str(), v))
    }
}

fn format_quantity(q: &Quantity) -> String {
    match q {
        Quantity::Scalar(v) => from_milli(*v).to_string(),
        Quantity::Ranges(r) => format_ranges(r),
        Quantity::Set(s) => format_set(s),
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.items.is_empty() {
            return f.write_str("{}");
        }
        let mut first = true;
        for (name, q) in self.listed() {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{name}:{}", format_quantity(q))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_arithmetic() {
        let total = Resources::parse("cpus:4;mem:4096;disk:10000;ports:[31000-32000]").unwrap();
        assert_eq!(total.scalar("cpus"), Some(4.0));
        let task = Resources::parse("cpus:0.1; mem:32; ports:[31000-31000,31005-31006]").unwrap();
        assert!(total.contains(&task));
        let left = total.minus(&task);
        assert_eq!(left.scalar("cpus"), Some(3.9));
        assert_eq!(
            left.to_string(),
            "ports:[31001-31004, 31007-32000]; cpus:3.9; mem:4064; disk:10000"
        );
        assert!(!left.contains(&task));
        assert_eq!(left.plus(&task), total);
        assert!(Resources::parse("cpus:x").is_err());
        assert!(Resources::parse("ports:[5-1]").is_err());
        assert!(Resources::parse("cpus(role):1").is_err());
    }

    #[test]
    fn listing_order_is_mesos_order() {
        // Ranges and sets first, then scalars, each in `--resources` order.
        let r = Resources::parse(
            "foo:3;cpus:4;bar:{a,b};mem:4096;ports:[31000-32000];disk:8192;zed:[1-5]",
        )
        .unwrap();
        let names: Vec<String> = r.to_proto(true, None).into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["bar", "ports", "zed", "foo", "cpus", "mem", "disk"]);
        let left = r.minus(&Resources::parse("cpus:0.5;foo:3").unwrap());
        let names: Vec<&str> = left.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["bar", "ports", "zed", "cpus", "mem", "disk"]);
        assert_eq!(
            Resources::parse("cpus:100")
                .unwrap()
                .describe_allocated("*"),
            "cpus(allocated: *):100"
        );
        assert_eq!(
            Resources::parse("cpus:4;mem:4096;ports:[1-2]")
                .unwrap()
                .describe_allocated("r"),
            "ports(allocated: r):[1-2]; cpus(allocated: r):4; mem(allocated: r):4096"
        );
        // Adding to nothing keeps the order.
        let mut sum = Resources::new();
        sum.add(&r);
        let names: Vec<&str> = sum.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["bar", "ports", "zed", "foo", "cpus", "mem", "disk"]);
        // Equality does not depend on order.
        assert_eq!(
            Resources::parse("cpus:1;mem:2").unwrap(),
            Resources::parse("mem:2;cpus:1").unwrap()
        );
    }

    #[test]
    fn fixed_point_scalars() {
        let mut r = Resources::parse("cpus:0.3").unwrap();
        r.subtract(&Resources::parse("cpus:0.1").unwrap());
        r.subtract(&Resources::parse("cpus:0.2").unwrap());
        assert!(r.is_empty());
    }

    #[test]
    fn proto_round_trip() {
        let r = Resources::parse("cpus:2;zones:{a,b};ports:[1-3]").unwrap();
        let p = r.to_proto(true, Some("*"));
        assert_eq!(p.len(), 3);
        assert_eq!(Resources::from_proto(&p).unwrap(), r);
        let json = r.to_state_json();
        assert_eq!(json["ports"], "[1-3]");
        assert_eq!(json["zones"], "{a, b}");
        assert_eq!(json["mem"], 0.0);
    }
}
