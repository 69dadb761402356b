//! `engine keys create | list | revoke`: issued API keys, written straight into the store file
//! named by the config (a running engine picks changes up within a second).

use std::path::Path;
use std::process::ExitCode;

use engine::api::auth::{Role, Scopes};
use engine::api::keys::{KeyRequest, issue};
use engine::config::{Config, RateLimit};
use engine::store::sqlite::keys as stored;
use engine::store::{AuditRecord, now_ms, rfc3339};

use super::{CreateKey, EX_USAGE};

/// Who `engine keys` records as the maker of a key.
const ACTOR: &str = "cli";

pub fn create(args: CreateKey) -> ExitCode {
    let Some(config) = load(&args.config) else { return ExitCode::from(EX_USAGE) };
    let request = match request(&args) {
        Ok(request) => request,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let result = stored::open_offline(&config.store).and_then(|mut conn| {
        check_owner(&conn, &request, &config)?;
        let (key, row) = issue(request, ACTOR, now_ms()).map_err(|m| engine::store::StoreError::Backend(m.into()))?;
        let audit = record("key.create", &row.id, serde_json::json!({ "after": engine::api::keys::described(&row) }));
        stored::audited(&mut conn, &audit, |conn| stored::put(conn, &row))?;
        Ok((key, row))
    });
    match result {
        Ok((key, row)) => {
            println!(
                "id     = {}\nrole   = {} ({})\nscopes = {}\nkey    = {key}",
                row.id, row.role, row.owner_id, row.scopes
            );
            eprintln!("The key is shown only now: the store keeps its SHA-256.");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

pub fn list(path: &Path) -> ExitCode {
    let Some(config) = load(path) else { return ExitCode::from(EX_USAGE) };
    match stored::open_offline(&config.store).and_then(|conn| stored::all(&conn)) {
        Ok(keys) => {
            println!(
                "{:<38} {:<9} {:<20} {:<10} {:>8}  {:<20} revoked",
                "id", "role", "owner", "scopes", "uses", "created"
            );
            for key in keys {
                let at = |ms: Option<i64>| ms.and_then(rfc3339).unwrap_or_else(|| "-".into());
                println!(
                    "{:<38} {:<9} {:<20} {:<10} {:>8}  {:<20} {}",
                    key.id,
                    key.role,
                    key.owner_id,
                    key.scopes,
                    key.uses,
                    at(Some(key.created_at)),
                    at(key.revoked_at)
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

pub fn revoke(path: &Path, id: &str) -> ExitCode {
    let Some(config) = load(path) else { return ExitCode::from(EX_USAGE) };
    let audit = record("key.revoke", id, serde_json::json!({}));
    let revoked = stored::open_offline(&config.store)
        .and_then(|mut conn| stored::audited(&mut conn, &audit, |conn| stored::revoke(conn, id, audit.at)));
    match revoked {
        Ok(1) => {
            println!("revoked {id}");
            ExitCode::SUCCESS
        }
        Ok(_) => {
            eprintln!("error: no live key `{id}` (unknown or already revoked)");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// An audit row for a change made from the command line.
fn record(action: &str, target: &str, detail: serde_json::Value) -> AuditRecord {
    AuditRecord { at: now_ms(), actor: ACTOR.to_owned(), action: action.to_owned(), target: target.to_owned(), detail }
}

fn load(path: &Path) -> Option<Config> {
    Config::load(path).map_err(|error| eprintln!("error: {error}")).ok()
}

/// The key the flags ask for.
fn request(args: &CreateKey) -> Result<KeyRequest, String> {
    let role = Role::parse(&args.role).ok_or("--role is publisher, buyer or admin")?;
    let owner = match role {
        Role::Buyer => args.buyer.clone().ok_or("--role buyer needs --buyer <id>")?,
        Role::Publisher => args.publisher.clone().ok_or("--role publisher needs --publisher <id>")?,
        Role::Admin => args.admin.clone().ok_or("--role admin needs --admin <id> (an [[admins]] entry)")?,
    };
    let given = [(&args.buyer, Role::Buyer), (&args.publisher, Role::Publisher), (&args.admin, Role::Admin)];
    if let Some((_, other)) = given.iter().find(|(flag, r)| flag.is_some() && *r != role) {
        return Err(format!("--{} does not go with --role {}", other.as_str(), role.as_str()));
    }
    engine::config::check_id(&owner).map_err(|m| format!("owner `{owner}`: {m}"))?;
    let scopes = if args.scope.is_empty() {
        Scopes::ALL
    } else {
        Scopes::parse(&args.scope.join(",")).ok_or("--scope is read, write, or both")?
    };
    if let Some(label) = &args.label
        && !engine::api::keys::label_ok(label)
    {
        return Err(format!(
            "--label is at most {} characters, no control characters",
            engine::api::keys::MAX_LABEL_LEN
        ));
    }
    let rate_limit = match (args.rate, args.burst) {
        (Some(per_second), Some(burst)) => {
            let limit = RateLimit { per_second, burst };
            limit
                .check()
                .map_err(|(field, m)| format!("--{}: {m}", if field == "burst" { "burst" } else { "rate" }))?;
            Some(limit)
        }
        _ => None,
    };
    Ok(KeyRequest { role, owner_id: owner, scopes, label: args.label.clone(), rate_limit })
}

/// The owner must exist: in the file's config, or added (and not deleted) by the admin API.
fn check_owner(
    conn: &rusqlite::Connection,
    request: &KeyRequest,
    config: &Config,
) -> Result<(), engine::store::StoreError> {
    let (kind, in_file) = match request.role {
        Role::Admin => return Ok(()),
        Role::Buyer => ("buyer", config.buyers.iter().any(|b| b.id == request.owner_id)),
        Role::Publisher => ("publisher", config.publishers.iter().any(|p| p.id == request.owner_id)),
    };
    let exists = stored::directory_entry(conn, kind, &request.owner_id)?.unwrap_or(in_file);
    if exists {
        Ok(())
    } else {
        Err(engine::store::StoreError::Backend(format!("no {kind} `{}` in the config or the store", request.owner_id)))
    }
}
