//! FrameworkInfo: its capabilities and roles, SUBSCRIBE's and
//! UPDATE_FRAMEWORK's rules, suppressed roles and offer constraints, the
//! failover timeout.
//!
//! May import: `names`.

use super::names::{validate_id, validate_role, validate_scalar_input};
use crate::wire::pb;
use pb::framework_info::capability::Type as Cap;

pub fn has_capability(info: &pb::FrameworkInfo, cap: Cap) -> bool {
    info.capabilities.iter().any(|c| c.r#type() == cap)
}

/// The roles a framework subscribes to.
#[allow(deprecated)]
pub fn framework_roles(info: &pb::FrameworkInfo) -> Vec<String> {
    if has_capability(info, Cap::MultiRole) {
        info.roles.clone()
    } else {
        vec![info.role.clone().unwrap_or_else(|| "*".into())]
    }
}

/// The failover timeout as a duration (`Duration::create` semantics:
/// negative means zero, non-finite or out of range is invalid).
pub fn failover_timeout(info: &pb::FrameworkInfo) -> Option<std::time::Duration> {
    let t = info.failover_timeout();
    if !t.is_finite() || t.abs() * 1e9 > i64::MAX as f64 {
        return None;
    }
    Some(std::time::Duration::from_secs_f64(t.max(0.0)))
}

/// `validation::framework::validate` (roles, id, offer filters, failover timeout).
#[allow(deprecated)]
pub fn validate_framework(info: &pb::FrameworkInfo) -> Result<(), String> {
    let multi_role = has_capability(info, Cap::MultiRole);
    if multi_role {
        if info.role.is_some() {
            return Err(
                "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
                    .into(),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        let dups: Vec<&str> = info
            .roles
            .iter()
            .filter(|r| !seen.insert(r.as_str()))
            .map(String::as_str)
            .collect();
        if !dups.is_empty() {
            return Err(format!(
                "'FrameworkInfo.roles' contains duplicate items: {{ {} }}",
                dups.join(", ")
            ));
        }
        for r in &info.roles {
            validate_role(r)
                .map_err(|e| format!("'FrameworkInfo.roles' contains invalid role: {e}"))?;
        }
    } else {
        if !info.roles.is_empty() {
            return Err("'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable".into());
        }
        validate_role(info.role.as_deref().unwrap_or("*"))
            .map_err(|e| format!("'FrameworkInfo.role' is not a valid role: {e}"))?;
    }
    if let Some(id) = &info.id
        && !id.value.is_empty()
    {
        validate_id(&id.value)?;
    }
    for filters in info.offer_filters.values() {
        if let Some(min) = &filters.min_allocatable_resources {
            for q in &min.quantities {
                if q.quantities.is_empty() {
                    return Err("Resource quantities must contain at least one quantity".into());
                }
                for (name, s) in &q.quantities {
                    validate_scalar_input(s.value)
                        .map_err(|e| format!("Invalid resource quantity for '{name}': {e}"))?;
                }
            }
        }
    }
    if failover_timeout(info).is_none() {
        return Err(format!(
            "The framework failover_timeout ({}) is invalid",
            info.failover_timeout()
        ));
    }
    Ok(())
}

/// `validation::framework::validateUpdate`.
pub fn validate_update(old: &pb::FrameworkInfo, new: &pb::FrameworkInfo) -> Result<(), String> {
    if old.principal != new.principal {
        return Err("Changing framework's principal is not allowed.".into());
    }
    if old.user != new.user {
        return Err(format!(
            "Updating 'FrameworkInfo.user' is unsupported; attempted to update from '{}' to '{}'",
            old.user, new.user
        ));
    }
    if old.checkpoint() != new.checkpoint() {
        return Err(format!(
            "Updating 'FrameworkInfo.checkpoint' is unsupported; attempted to update from '{}' to '{}'",
            old.checkpoint(),
            new.checkpoint()
        ));
    }
    Ok(())
}

/// Suppressed roles must be a subset of the framework's roles; the first
/// one that is not is named (Mesos's wording, checked against 1.11).
pub fn validate_suppressed_roles(roles: &[String], suppressed: &[String]) -> Result<(), String> {
    match suppressed.iter().find(|r| !roles.contains(r)) {
        None => Ok(()),
        Some(r) => Err(format!(
            "Suppressed role '{r}' is not contained in the list of roles"
        )),
    }
}

/// Offer constraints may only name the framework's roles.
pub fn validate_offer_constraints(
    roles: &[String],
    constraints: Option<&pb::scheduler::OfferConstraints>,
) -> Result<(), String> {
    let Some(c) = constraints else { return Ok(()) };
    for (role, rc) in &c.role_constraints {
        if !roles.contains(role) {
            return Err(format!(
                "Offer constraints specify `role_constraints` for a role '{role}'not contained in the set of roles"
            ));
        }
        if rc.groups.is_empty() || rc.groups.iter().any(|g| g.attribute_constraints.is_empty()) {
            return Err("Offer constraints are not valid: empty constraint group".into());
        }
    }
    Ok(())
}
