//! Ids and roles (`src/common/validation.cpp`, `src/common/roles.cpp`), and
//! the limits other rules share.
//!
//! May import: nothing of the cluster.

pub(super) const NAME_MAX: usize = 255;

/// The default executor's minimum resources (MIN_CPUS, MIN_MEM).
pub(super) const MIN_CPUS: f64 = 0.01;

pub(super) const MIN_MEM: f64 = 32.0;

/// `common::validation::validateID`.
pub fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("ID must not be empty".into());
    }
    if id.len() > NAME_MAX {
        return Err(format!("ID must not be greater than {NAME_MAX} characters"));
    }
    if id == "." || id == ".." {
        return Err(format!("'{id}' is disallowed"));
    }
    if id
        .bytes()
        .any(|c| c.is_ascii_control() || c == b'/' || c == b'\\')
    {
        return Err(format!("'{id}' contains invalid characters"));
    }
    Ok(())
}

/// `roles::validate`.
pub fn validate_role(role: &str) -> Result<(), String> {
    if role == "*" {
        return Ok(());
    }
    if role.starts_with('/') {
        return Err(format!("Role '{role}' cannot start with a slash"));
    }
    if role.ends_with('/') {
        return Err(format!("Role '{role}' cannot end with a slash"));
    }
    if role.contains("//") {
        return Err(format!("Role '{role}' cannot contain two adjacent slashes"));
    }
    let components: Vec<&str> = role.split('/').filter(|c| !c.is_empty()).collect();
    if components.is_empty() {
        return Err("Role names cannot be the empty string".into());
    }
    for c in components {
        match c {
            "." => return Err(format!("Role '{role}' cannot include '.' as a component")),
            ".." => return Err(format!("Role '{role}' cannot include '..' as a component")),
            "*" => return Err(format!("Role '{role}' cannot include '*' as a component")),
            _ => {}
        }
        if c.starts_with('-') {
            return Err(format!(
                "Role component '{c}' is invalid because it starts with a dash"
            ));
        }
        if c.bytes().any(|b| matches!(b, 0x09..=0x0d | 0x20 | 0x7f)) {
            return Err(format!(
                "Role component '{c}' is invalid because it contains backspace or whitespace"
            ));
        }
    }
    Ok(())
}

pub(super) fn validate_scalar_input(v: f64) -> Result<(), String> {
    if v.is_infinite() {
        Err("Infinite values not supported".into())
    } else if v.is_nan() {
        Err("NaN not supported".into())
    } else if v.is_subnormal() {
        Err("Subnormal values not supported".into())
    } else if v < 0.0 {
        Err("Negative values not supported".into())
    } else {
        Ok(())
    }
}
