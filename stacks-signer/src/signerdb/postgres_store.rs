//! `SignerDb` on PostgreSQL: connecting to a `postgresql://` URL, holding the database for
//! one handle, and creating its schema.
//!
//! The schema is the SQLite one with PostgreSQL's column types (`BIGINT` for `INTEGER`,
//! `BYTEA` for `BLOB`). A PostgreSQL database starts at the current schema version: the
//! reference signer's history is SQLite files only, and later versions will each add their
//! step for both engines. The tables live in the connection's current schema (`public`
//! unless the URL's `options=-csearch_path=…` says otherwise).
//!
//! One handle per database, as with a SQLite file: the handle holds a session advisory lock
//! of the database and schema (created if the URL's `search_path` names one that does not
//! exist yet); a second opener is refused with [`SignerDbError::AlreadyLocked`]. After
//! the connection breaks (the server restarted), the next call reconnects and takes the lock
//! again — or fails, if another handle took it meanwhile.

use std::cell::RefCell;
use std::path::PathBuf;

use postgres::Client;

use super::engine::{pg_error, PgConn, Sql};
use super::schema::{CURRENT_SCHEMA, SCHEMA_VERSION};
use super::{SignerDb, SignerDbError, Store};
use crate::ha::redact_url;

/// The first key of the advisory lock a handle holds ("SGDB"); the second is a hash of the
/// schema the tables are in, so that databases in different schemas of one PostgreSQL
/// database are held apart.
const HANDLE_LOCK: i32 = 0x5347_4442;

/// The current schema in PostgreSQL's types.
pub(crate) fn postgres_schema() -> String {
    CURRENT_SCHEMA
        .replace(") STRICT;", ");")
        .replace(" INTEGER", " BIGINT")
        .replace(" BLOB", " BYTEA")
}

impl SignerDb {
    /// Opens (creating its schema if the database is empty) the PostgreSQL database at
    /// `url` (`postgresql://user:password@host:port/database`, with libpq's `sslmode` and
    /// `sslrootcert` for TLS) and holds it for the life of the returned handle.
    ///
    /// Errors: [`SignerDbError::AlreadyLocked`] when another handle holds it,
    /// [`SignerDbError::NotASignerDb`] when the database holds another program's tables,
    /// [`SignerDbError::SchemaTooNew`] / [`SignerDbError::SchemaUnsupported`] for a schema
    /// this build cannot use, [`SignerDbError::Postgres`] when the server cannot be reached.
    pub fn open_postgres(url: &str) -> Result<Self, SignerDbError> {
        let shown = PathBuf::from(redact_url(url));
        let plan = crate::ha::tls::plan(url)
            .map_err(|e| SignerDbError::Postgres(format!("db_path {}: {e}", redact_url(url))))?;
        let connect = {
            let url = url.to_string();
            let shown = shown.clone();
            move || -> Result<Client, SignerDbError> {
                let mut client = crate::ha::store::connect(&plan, &url, "stacks-signer signerdb")
                    .map_err(SignerDbError::Postgres)?;
                // Ordinary writes wait for no disk flush, as SQLite's `synchronous=NORMAL`;
                // an own vote's transaction asks for one (`SignerDb::durable_write`).
                client
                    .batch_execute("SET synchronous_commit = off")
                    .map_err(pg_error)?;
                ensure_schema(&mut client)?;
                let locked: bool = client
                    .query_one(
                        "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))",
                        &[&HANDLE_LOCK],
                    )
                    .map_err(pg_error)?
                    .get(0);
                if !locked {
                    return Err(SignerDbError::AlreadyLocked {
                        path: shown.clone(),
                    });
                }
                Ok(client)
            }
        };
        let client = connect()?;
        let mut db = Self {
            store: Store::Postgres(Box::new(RefCell::new(PgConn::new(
                client,
                Box::new(connect),
            )))),
            path: shown,
            opened_at_version: 0,
            _lock: None,
            shared: None,
        };
        db.opened_at_version = db.migrate_postgres()?;
        Ok(db)
    }

    /// Creates the schema in an empty database, durably (a server crash must not take the
    /// tables back); returns the version the database had.
    fn migrate_postgres(&mut self) -> Result<u32, SignerDbError> {
        let path = self.path.clone();
        self.durable_write(|tx| {
            let found = schema_version(tx)?;
            if found == 0 {
                refuse_foreign_tables(tx, &path)?;
                tx.batch(&postgres_schema())
                    .map_err(|e| SignerDbError::Migration {
                        to: SCHEMA_VERSION,
                        reason: e.to_string(),
                    })?;
                tx.exec(
                    "INSERT INTO db_config (version) VALUES (?1)",
                    crate::signerdb::engine::sql_params![SCHEMA_VERSION],
                )?;
            } else if found > SCHEMA_VERSION {
                return Err(SignerDbError::SchemaTooNew {
                    path,
                    found,
                    supported: SCHEMA_VERSION,
                });
            } else if found < SCHEMA_VERSION {
                return Err(SignerDbError::SchemaUnsupported {
                    path,
                    found,
                    reason: format!(
                        "a PostgreSQL signer database starts at schema {SCHEMA_VERSION}; no \
                         migration starts from {found}"
                    ),
                });
            }
            Ok(found)
        })
    }
}

/// Creates the schema the URL's `search_path` names first when it does not exist yet (so
/// that `options=-csearch_path%3Dname` is all an operator writes to give each instance its own
/// schema of one database).
fn ensure_schema(client: &mut Client) -> Result<(), SignerDbError> {
    let current: Option<String> = client
        .query_one("SELECT current_schema()::text", &[])
        .map_err(pg_error)?
        .get(0);
    if current.is_some() {
        return Ok(());
    }
    let path: String = client
        .query_one("SELECT current_setting('search_path')", &[])
        .map_err(pg_error)?
        .get(0);
    // As PostgreSQL reads the setting: a quoted name as written, others in lower case.
    let first = path
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "$user")
        .map(
            |s| match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                Some(quoted) => quoted.to_string(),
                None => s.to_lowercase(),
            },
        )
        .next()
        .ok_or_else(|| {
            SignerDbError::Postgres(format!("search_path {path:?} names no schema to use"))
        })?;
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{}\"",
            first.replace('"', "\"\"")
        ))
        .map_err(pg_error)
}

/// The schema version of a PostgreSQL signer database (0 when it has no `db_config`).
pub(crate) fn schema_version(sql: Sql<'_>) -> Result<u32, SignerDbError> {
    let has_config = sql.exists(
        "SELECT 1 FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_name = 'db_config'",
        &[],
    )?;
    if !has_config {
        return Ok(0);
    }
    let version = sql
        .row("SELECT MAX(version) FROM db_config", &[], |row| {
            super::sql::Cols::new(row, "db_config").opt_u64(0, "version")
        })?
        .flatten()
        .unwrap_or(0);
    u32::try_from(version).map_err(|_| {
        SignerDbError::corrupt(
            "db_config",
            "version",
            format!("impossible version {version}"),
        )
    })
}

/// A database without `db_config` must hold no tables but the shared record's (`ha_*`, an
/// active/standby pair's, which may share the schema): others would belong to another
/// program.
fn refuse_foreign_tables(sql: Sql<'_>, path: &std::path::Path) -> Result<(), SignerDbError> {
    const SHOWN: usize = 5;
    let names = sql.rows(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_name NOT LIKE 'ha\\_%' \
         ORDER BY table_name LIMIT ?1",
        crate::signerdb::engine::sql_params![SHOWN as i64 + 1],
        |row| {
            Ok(super::sql::Cols::new(row, "tables")
                .text(0, "table_name")?
                .to_string())
        },
    )?;
    if names.is_empty() {
        return Ok(());
    }
    let mut listed = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        listed.push_str(", ...");
    }
    Err(SignerDbError::NotASignerDb {
        path: path.to_path_buf(),
        reason: format!("it has no db_config version but holds {listed}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_postgresql_schema_has_only_postgresql_types() {
        let schema = postgres_schema();
        for sqlite_only in ["BLOB", "STRICT", "INTEGER"] {
            assert!(
                !schema.contains(sqlite_only),
                "{sqlite_only} left in {schema}"
            );
        }
        assert!(schema.contains("signer_signature_hash BYTEA NOT NULL PRIMARY KEY"));
        assert!(schema.contains("reward_cycle BIGINT NOT NULL"));
    }
}
