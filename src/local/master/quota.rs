//! The checks of quota changes (UPDATE_QUOTA, SET_QUOTA, REMOVE_QUOTA) in
//! Mesos 1.11's order and words, as pure functions over quantities; the
//! master (`operator_info`) gathers the figures and keeps the result.
//!
//! May import: the cluster's `validation` and the crate's `wire`.

use std::collections::BTreeMap;

use crate::local::validation::validate_role;
use crate::wire::pb;
use pb::quota::QuotaConfig;

/// Quantities by resource name.
pub(crate) type Quantities = BTreeMap<String, f64>;

/// `cpus:4; disk:8192; mem:4096` (`ResourceQuantities` printed).
pub(crate) fn quantities_text(q: &Quantities) -> String {
    q.iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `{ cpus: 2, mem: 3 }` (a quota's guarantees or limits printed).
fn braces(m: &Quantities) -> String {
    let items: Vec<String> = m.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{ {} }}", items.join(", "))
}

/// `{'cpus': -1}` (the configuration a bad value is in).
fn quoted(m: &Quantities) -> String {
    let items: Vec<String> = m.iter().map(|(k, v)| format!("'{k}': {v}")).collect();
    format!("{{{}}}", items.join(", "))
}

fn values(m: &std::collections::HashMap<String, pb::value::Scalar>) -> Quantities {
    m.iter().map(|(k, v)| (k.clone(), v.value)).collect()
}

/// `a` holds at least `b` (names missing from `a` hold nothing).
fn contains(a: &Quantities, b: &Quantities) -> bool {
    b.iter()
        .all(|(k, v)| *v <= 0.0 || a.get(k).is_some_and(|x| x >= v))
}

/// A value Mesos accepts in a quota.
fn scalar_ok(v: f64) -> Result<(), String> {
    if v.is_infinite() {
        Err("Infinite values not supported".into())
    } else if v.is_nan() {
        Err("NaN not supported".into())
    } else if v < 0.0 {
        Err("Negative values not supported".into())
    } else {
        Ok(())
    }
}

/// One config on its own (`quota::validate(QuotaConfig)`), with the
/// nested-role refusal that comes first.
pub(crate) fn validate_config(c: &QuotaConfig) -> Result<(), String> {
    if c.role.contains('/') {
        return Err(format!(
            "Updating quota on nested role '{}' is not supported yet",
            c.role
        ));
    }
    let invalid = |m: String| format!("Invalid QuotaConfig: {m}");
    validate_role(&c.role).map_err(|e| invalid(format!("Invalid 'QuotaConfig.role': {e}")))?;
    let (g, l) = (values(&c.guarantees), values(&c.limits));
    for (what, m) in [("guarantee", &g), ("limit", &l)] {
        for v in m.values() {
            scalar_ok(*v)
                .map_err(|e| invalid(format!("Invalid {what} configuration {}: {e}", quoted(m))))?;
        }
    }
    // Unlimited where no limit is given.
    let limited: Quantities = g
        .iter()
        .filter(|(k, _)| l.contains_key(*k))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    if !contains(&l, &limited) {
        return Err(invalid(format!(
            "'QuotaConfig.guarantees' {} is not contained within the 'QuotaConfig.limits' {}",
            braces(&g),
            braces(&l)
        )));
    }
    Ok(())
}

/// UPDATE_QUOTA's checks: each config, then each role's limits against what
/// it consumes, then all guarantees against the cluster's capacity
/// (`force` skips the last two).
pub(crate) fn check_update(
    current: &BTreeMap<String, QuotaConfig>,
    configs: &[QuotaConfig],
    consumed: impl Fn(&str) -> Quantities,
    capacity: &Quantities,
    force: bool,
) -> Result<(), String> {
    for c in configs {
        validate_config(c)?;
    }
    for c in configs.iter().filter(|_| !force) {
        let used = consumed(&c.role);
        let limits = values(&c.limits);
        let limited: Quantities = used
            .iter()
            .filter(|(k, _)| limits.contains_key(*k))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        if !contains(&limits, &limited) {
            return Err(format!(
                "Invalid QuotaConfig: Role '{}' is already consuming '{}'; this is more than the requested limits '{}' (use 'force' flag to bypass this check)",
                c.role,
                quantities_text(&used),
                quantities_text(&limits)
            ));
        }
    }
    let mut all = current.clone();
    for c in configs {
        all.insert(c.role.clone(), c.clone());
    }
    let mut total = Quantities::new();
    for c in all.values() {
        for (k, v) in values(&c.guarantees) {
            *total.entry(k).or_default() += v;
        }
    }
    total.retain(|_, v| *v > 0.0);
    if !force && !contains(capacity, &total) {
        return Err(format!(
            "Invalid QuotaConfig: total quota guarantees '{}' exceed cluster capacity '{}' (use 'force' flag to bypass this check)",
            quantities_text(&total),
            quantities_text(capacity)
        ));
    }
    Ok(())
}

/// SET_QUOTA (deprecated): the request as a config whose limits are its
/// guarantees.
pub(crate) fn config_of_request(
    current: &BTreeMap<String, QuotaConfig>,
    req: &pb::quota::QuotaRequest,
) -> Result<QuotaConfig, String> {
    let role = req.role.clone().unwrap_or_default();
    let fail = |m: String| format!("Failed to validate set quota request: {m}");
    validate_role(&role).map_err(fail)?;
    let mut guarantees = std::collections::HashMap::new();
    for r in &req.guarantee {
        let v = r.scalar.map_or(0.0, |s| s.value);
        if r.r#type != pb::value::Type::Scalar as i32 {
            return Err(fail(format!("Resource '{}' is not a scalar", r.name)));
        }
        scalar_ok(v).map_err(|e| {
            fail(format!(
                "QuotaInfo with invalid resource: Invalid scalar resource: {e}"
            ))
        })?;
        guarantees.insert(r.name.clone(), pb::value::Scalar { value: v });
    }
    if current.contains_key(&role) {
        return Err(fail(format!(
            "Cannot set quota for role '{role}' which already has quota"
        )));
    }
    Ok(QuotaConfig {
        role,
        limits: guarantees.clone(),
        guarantees,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(role: &str, g: &[(&str, f64)], l: &[(&str, f64)]) -> QuotaConfig {
        let m = |x: &[(&str, f64)]| {
            x.iter()
                .map(|(k, v)| (k.to_string(), pb::value::Scalar { value: *v }))
                .collect()
        };
        QuotaConfig {
            role: role.into(),
            guarantees: m(g),
            limits: m(l),
        }
    }

    fn capacity() -> Quantities {
        [("cpus", 4.0), ("disk", 8192.0), ("mem", 4096.0)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    #[test]
    fn configs_are_checked_in_mesos_words() {
        assert_eq!(
            validate_config(&config("q", &[("cpus", 2.0)], &[("cpus", 1.0)])).unwrap_err(),
            "Invalid QuotaConfig: 'QuotaConfig.guarantees' { cpus: 2 } is not contained within the 'QuotaConfig.limits' { cpus: 1 }"
        );
        assert_eq!(
            validate_config(&config("q", &[("cpus", -1.0)], &[])).unwrap_err(),
            "Invalid QuotaConfig: Invalid guarantee configuration {'cpus': -1}: Negative values not supported"
        );
        assert_eq!(
            validate_config(&config("-bad", &[], &[])).unwrap_err(),
            "Invalid QuotaConfig: Invalid 'QuotaConfig.role': Role component '-bad' is invalid because it starts with a dash"
        );
        assert_eq!(
            validate_config(&config("a/b", &[], &[])).unwrap_err(),
            "Updating quota on nested role 'a/b' is not supported yet"
        );
        // A guarantee with no limit on that resource is fine.
        assert!(validate_config(&config("q", &[("cpus", 2.0)], &[("mem", 1.0)])).is_ok());
    }

    #[test]
    fn guarantees_must_fit_the_cluster_unless_forced() {
        let none = |_: &str| Quantities::new();
        let big = [config("q1", &[("cpus", 100.0)], &[])];
        assert_eq!(
            check_update(&BTreeMap::new(), &big, none, &capacity(), false).unwrap_err(),
            "Invalid QuotaConfig: total quota guarantees 'cpus:100' exceed cluster capacity 'cpus:4; disk:8192; mem:4096' (use 'force' flag to bypass this check)"
        );
        assert!(check_update(&BTreeMap::new(), &big, none, &capacity(), true).is_ok());
        let mut current = BTreeMap::new();
        current.insert("q1".to_string(), config("q1", &[("cpus", 3.0)], &[]));
        let more = [config("q2", &[("cpus", 1.5)], &[])];
        assert!(
            check_update(&current, &more, none, &capacity(), false)
                .unwrap_err()
                .contains("'cpus:4.5'")
        );
        let used = |_: &str| -> Quantities { [("cpus".to_string(), 0.5)].into() };
        let tight = [config("q3", &[], &[("cpus", 0.25)])];
        assert_eq!(
            check_update(&BTreeMap::new(), &tight, used, &capacity(), false).unwrap_err(),
            "Invalid QuotaConfig: Role 'q3' is already consuming 'cpus:0.5'; this is more than the requested limits 'cpus:0.25' (use 'force' flag to bypass this check)"
        );
    }

    #[test]
    fn set_quota_makes_limits_of_its_guarantees_once() {
        let req = pb::quota::QuotaRequest {
            force: None,
            role: Some("sq".into()),
            guarantee: vec![pb::Resource {
                name: "cpus".into(),
                r#type: pb::value::Type::Scalar as i32,
                scalar: Some(pb::value::Scalar { value: 1.0 }),
                ..Default::default()
            }],
        };
        let c = config_of_request(&BTreeMap::new(), &req).unwrap();
        assert_eq!(c.limits, c.guarantees);
        let mut current = BTreeMap::new();
        current.insert("sq".to_string(), c);
        assert_eq!(
            config_of_request(&current, &req).unwrap_err(),
            "Failed to validate set quota request: Cannot set quota for role 'sq' which already has quota"
        );
    }
}
