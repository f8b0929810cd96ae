//! Resources (`Resources::validate` and the master's resource checks), as
//! in LAUNCH and LAUNCH_GROUP.
//!
//! May import: `names`.

use crate::wire::pb;

use super::names::validate_role;

/// A `Resource` as Mesos prints it in messages: `name`, the allocation
/// role if any, then `:value` (`cpus(allocated: r):0.5`, `ports:[1-2]`).
pub(super) fn resource_text(r: &pb::Resource) -> String {
    use pb::value::Type as V;
    let mut out = r.name.clone();
    if let Some(role) = r.allocation_info.as_ref().and_then(|a| a.role.as_deref()) {
        out.push_str(&format!("(allocated: {role})"));
    }
    let value = match V::try_from(r.r#type) {
        Ok(V::Ranges) => {
            let parts: Vec<String> = r
                .ranges
                .iter()
                .flat_map(|rs| &rs.range)
                .map(|x| format!("{}-{}", x.begin, x.end))
                .collect();
            format!("[{}]", parts.join(", "))
        }
        Ok(V::Set) => {
            let items: Vec<&str> = r
                .set
                .iter()
                .flat_map(|s| &s.item)
                .map(String::as_str)
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        _ => r.scalar.as_ref().map_or(0.0, |x| x.value).to_string(),
    };
    format!("{out}:{value}")
}

/// The checks of `Resources::validate` on one resource (value shape and
/// sign, ranges, sets, disk info, reservation format, sharing).
#[allow(deprecated)]
pub(super) fn validate_resource(r: &pb::Resource) -> Result<(), String> {
    use pb::resource::reservation_info::Type as R;
    use pb::value::Type as V;
    if r.name.is_empty() {
        return Err("Empty resource name".into());
    }
    let (scalar, ranges, set) = (r.scalar.is_some(), r.ranges.is_some(), r.set.is_some());
    match V::try_from(r.r#type) {
        Ok(V::Scalar) => {
            if !scalar || ranges || set {
                return Err("Invalid scalar resource".into());
            }
            let v = r.scalar.as_ref().map_or(0.0, |x| x.value);
            // Fixed point: a non-zero value that rounds to zero or below.
            if v != 0.0 && crate::local::resources::to_milli(v) <= 0 {
                return Err("Invalid scalar resource: value <= 0".into());
            }
        }
        Ok(V::Ranges) => {
            if scalar || !ranges || set {
                return Err("Invalid ranges resource".into());
            }
            let list = r.ranges.as_ref().map_or(&[][..], |x| &x.range[..]);
            for (i, a) in list.iter().enumerate() {
                if a.begin > a.end {
                    return Err("Invalid ranges resource: begin > end".into());
                }
                if list[i + 1..]
                    .iter()
                    .any(|b| a.begin <= b.begin && b.begin <= a.end)
                {
                    return Err("Invalid ranges resource: overlapping ranges".into());
                }
            }
        }
        Ok(V::Set) => {
            if scalar || ranges || !set {
                return Err("Invalid set resource".into());
            }
            let items = r.set.as_ref().map_or(&[][..], |x| &x.item[..]);
            let unique: std::collections::BTreeSet<&String> = items.iter().collect();
            if unique.len() != items.len() {
                return Err("Invalid set resource: duplicated elements".into());
            }
        }
        Ok(V::Text) => return Err("Unsupported resource type".into()),
        Err(_) => return Err("Invalid resource type".into()),
    }
    if r.disk.is_some() && r.name != "disk" {
        return Err(format!(
            "DiskInfo should not be set for {} resource",
            r.name
        ));
    }
    if r.reservations.is_empty() {
        validate_role(r.role.as_deref().unwrap_or("*"))?;
        if let Some(res) = &r.reservation {
            if res.r#type.is_some() {
                return Err("'Resource.ReservationInfo.type' must not be set for the 'Resource.reservation' field".into());
            }
            if res.role.is_some() {
                return Err("'Resource.ReservationInfo.role' must not be set for the 'Resource.reservation' field".into());
            }
            if r.role.as_deref().unwrap_or("*") == "*" {
                return Err(
                    "Invalid reservation: role \"*\" cannot be dynamically reserved".into(),
                );
            }
        }
    } else {
        for res in &r.reservations {
            if res.r#type.is_none() {
                return Err(
                    "Invalid reservation: 'Resource.ReservationInfo.type' field must be set."
                        .into(),
                );
            }
            let Some(role) = &res.role else {
                return Err(
                    "Invalid reservation: 'Resource.ReservationInfo.role' field must be set."
                        .into(),
                );
            };
            validate_role(role)?;
            if role == "*" {
                return Err("Invalid reservation: role \"*\" cannot be reserved".into());
            }
        }
        if r.reservations[1..]
            .iter()
            .any(|res| res.r#type == Some(R::Static as i32))
        {
            return Err(
                "Invalid refined reservation: A refined reservation cannot be STATIC".into(),
            );
        }
    }
    if r.shared.is_some() {
        if r.name != "disk" {
            return Err(format!("Resource {} cannot be shared", r.name));
        }
        if r.disk.as_ref().is_none_or(|d| d.persistence.is_none()) {
            return Err("Only persistent volumes can be shared".into());
        }
    }
    Ok(())
}

/// `Resources::validate` over a list: the first invalid resource, named.
pub fn validate_resources(list: &[pb::Resource]) -> Result<(), String> {
    for r in list {
        validate_resource(r)
            .map_err(|e| format!("Resource '{}' is invalid: {e}", resource_text(r)))?;
    }
    Ok(())
}

/// The resources of a LAUNCH operation, checked before any task is (a
/// Mesos master drops the whole operation, every task with this error).
pub fn validate_launch_resources(tasks: &[pb::TaskInfo]) -> Result<(), String> {
    for t in tasks {
        validate_resources(&t.resources)?;
        if let Some(e) = &t.executor {
            validate_resources(&e.resources)?;
        }
    }
    Ok(())
}
