//! The two engines `SignerDb` runs on — SQLite (a file, the default) and PostgreSQL (a
//! `postgresql://` URL) — behind one way of running statements.
//!
//! Every query is written once, in the SQL both engines accept, with `?N` placeholders
//! (rewritten to PostgreSQL's `$N` here). Values go in as [`Value`]s: integers, text, bytes
//! or NULL, the four kinds the schema uses on both engines (`INTEGER`/`BIGINT`,
//! `TEXT`, `BLOB`/`BYTEA`; booleans are 0/1 integers on both). Rows come back as [`Row`]s,
//! read column by column through [`super::sql::Cols`], which names the table and column of
//! any value it cannot read.
//!
//! Where the engines differ (pragmas and file size, the schema's column types, a scalar
//! `MAX` of several values), the code asks [`Sql::engine`] and says both.

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;

use postgres::types::{IsNull, ToSql as PgToSql, Type};
use postgres::{Client, Statement};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::Connection;

use super::error::SignerDbError;

/// Which engine a database runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// A SQLite file (or `:memory:`), through the bundled SQLite.
    Sqlite,
    /// A PostgreSQL database, named by a `postgresql://` URL.
    Postgres,
}

impl Engine {
    /// The engine a `db_path` names: PostgreSQL for a `postgresql://` or `postgres://` URL,
    /// SQLite for anything else.
    pub fn of_location(location: &str) -> Self {
        if location.starts_with("postgresql://") || location.starts_with("postgres://") {
            Engine::Postgres
        } else {
            Engine::Sqlite
        }
    }

    /// The engine's name as the logs and status say it.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgresql",
        }
    }
}

/// A value bound to a statement's placeholder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// What can be bound to a placeholder (see [`sql_params!`](crate::sql_params)).
pub(crate) trait ToValue {
    fn to_value(&self) -> Value;
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

macro_rules! int_values {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(i64::from(*self))
            }
        }
    )*};
}
int_values!(i64, i32, u32, u16, u8, bool);

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl<const N: usize> ToValue for [u8; N] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

/// The values of a statement's placeholders, in order: `sql_params![a, b]`.
macro_rules! sql_params {
    ($($value:expr),* $(,)?) => {
        &[$($crate::signerdb::engine::ToValue::to_value(&$value)),*][..]
    };
}
pub(crate) use sql_params;

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Text(t) => ValueRef::Text(t.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl PgToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => v.to_string().to_sql(ty, out),
                _ => Err(format!("an integer cannot go into a {ty} parameter").into()),
            },
            Value::Text(t) => t.as_str().to_sql(ty, out),
            Value::Blob(b) => b.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// One value of a result row, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

/// A result row of either engine.
pub(crate) enum Row<'r, 's> {
    Sqlite(&'r rusqlite::Row<'s>),
    Postgres(&'r postgres::Row),
}

impl Row<'_, '_> {
    /// Column `idx`'s value.
    pub(crate) fn cell(&self, idx: usize) -> Result<Cell<'_>, String> {
        match self {
            Row::Sqlite(row) => Ok(match row.get_ref(idx).map_err(|e| e.to_string())? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(v) => Cell::Int(v),
                ValueRef::Real(v) => Cell::Real(v),
                ValueRef::Text(t) => Cell::Text(t),
                ValueRef::Blob(b) => Cell::Blob(b),
            }),
            Row::Postgres(row) => {
                let column = row
                    .columns()
                    .get(idx)
                    .ok_or_else(|| format!("no column {idx}"))?;
                let e = |e: postgres::Error| e.to_string();
                let cell = match *column.type_() {
                    Type::INT8 => row
                        .try_get::<_, Option<i64>>(idx)
                        .map_err(e)?
                        .map(Cell::Int),
                    Type::INT4 => row
                        .try_get::<_, Option<i32>>(idx)
                        .map_err(e)?
                        .map(|v| Cell::Int(v.into())),
                    Type::INT2 => row
                        .try_get::<_, Option<i16>>(idx)
                        .map_err(e)?
                        .map(|v| Cell::Int(v.into())),
                    Type::BOOL => row
                        .try_get::<_, Option<bool>>(idx)
                        .map_err(e)?
                        .map(|v| Cell::Int(v.into())),
                    Type::FLOAT8 => row
                        .try_get::<_, Option<f64>>(idx)
                        .map_err(e)?
                        .map(Cell::Real),
                    Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => row
                        .try_get::<_, Option<&str>>(idx)
                        .map_err(e)?
                        .map(|t| Cell::Text(t.as_bytes())),
                    Type::BYTEA => row
                        .try_get::<_, Option<&[u8]>>(idx)
                        .map_err(e)?
                        .map(Cell::Blob),
                    ref other => return Err(format!("unsupported column type {other}")),
                };
                Ok(cell.unwrap_or(Cell::Null))
            }
        }
    }
}

/// A PostgreSQL connection with its prepared statements, and how to open it again.
pub(crate) struct PgConn {
    client: Client,
    statements: HashMap<String, Statement>,
    /// Reopens the connection (and takes the database's lock again) after it broke.
    reconnect: Box<dyn Fn() -> Result<Client, SignerDbError> + Send>,
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConn")
            .field("closed", &self.client.is_closed())
            .field("statements", &self.statements.len())
            .finish_non_exhaustive()
    }
}

impl PgConn {
    /// A connection that `reconnect` opens again when it breaks.
    pub(crate) fn new(
        client: Client,
        reconnect: Box<dyn Fn() -> Result<Client, SignerDbError> + Send>,
    ) -> Self {
        Self {
            client,
            statements: HashMap::new(),
            reconnect,
        }
    }

    /// The client, reconnected first if the connection broke (outside a transaction).
    fn client(&mut self, in_transaction: bool) -> Result<&mut Client, SignerDbError> {
        if self.client.is_closed() {
            if in_transaction {
                return Err(SignerDbError::Postgres(
                    "the connection broke during a transaction".into(),
                ));
            }
            self.client = (self.reconnect)()?;
            self.statements.clear();
        }
        Ok(&mut self.client)
    }

    fn statement(&mut self, sql: &str, in_tx: bool) -> Result<Statement, SignerDbError> {
        if let Some(stmt) = self.statements.get(sql) {
            if !self.client.is_closed() {
                return Ok(stmt.clone());
            }
        }
        let client = self.client(in_tx)?;
        let stmt = client
            .prepare(&dollar_placeholders(sql))
            .map_err(pg_error)?;
        self.statements.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }

    fn params(params: &[Value]) -> Vec<&(dyn PgToSql + Sync)> {
        params.iter().map(|v| v as &(dyn PgToSql + Sync)).collect()
    }
}

/// A PostgreSQL error as a [`SignerDbError`]: the server's code and message, or the client's
/// error with its causes.
pub(crate) fn pg_error(e: postgres::Error) -> SignerDbError {
    SignerDbError::Postgres(crate::ha::store::pg_detail(&e))
}

/// `sql` with SQLite's `?N` (and bare `?`) placeholders as PostgreSQL's `$N`, leaving
/// quoted text alone.
pub(crate) fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quoted = false;
    let mut next_bare = 1;
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c != '?' || quoted {
            out.push(c);
            continue;
        }
        out.push('$');
        if chars.peek().is_some_and(char::is_ascii_digit) {
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                out.push(d);
            }
        } else {
            out.push_str(&next_bare.to_string());
            next_bare += 1;
        }
    }
    out
}

/// Where statements run: a SQLite connection (or its open transaction) or a PostgreSQL
/// connection (inside or outside a transaction).
#[derive(Clone, Copy)]
pub(crate) enum Sql<'a> {
    Sqlite(&'a Connection),
    Postgres {
        conn: &'a RefCell<PgConn>,
        in_transaction: bool,
    },
}

impl<'a> Sql<'a> {
    /// The engine the statements run on.
    pub(crate) fn engine(self) -> Engine {
        match self {
            Sql::Sqlite(_) => Engine::Sqlite,
            Sql::Postgres { .. } => Engine::Postgres,
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub(crate) fn exec(self, sql: &str, params: &[Value]) -> Result<u64, SignerDbError> {
        match self {
            Sql::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::params_from_iter(params))? as u64)
            }
            Sql::Postgres {
                conn,
                in_transaction,
            } => {
                let mut pg = conn.borrow_mut();
                let stmt = pg.statement(sql, in_transaction)?;
                let client = pg.client(in_transaction)?;
                client
                    .execute(&stmt, &PgConn::params(params))
                    .map_err(pg_error)
            }
        }
    }

    /// Runs statements separated by `;`, without parameters.
    pub(crate) fn batch(self, sql: &str) -> Result<(), SignerDbError> {
        match self {
            Sql::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Sql::Postgres {
                conn,
                in_transaction,
            } => conn
                .borrow_mut()
                .client(in_transaction)?
                .batch_execute(sql)
                .map_err(pg_error),
        }
    }

    /// Runs a query and calls `f` on each row in order, stopping at its first error.
    pub(crate) fn for_each(
        self,
        sql: &str,
        params: &[Value],
        mut f: impl FnMut(&Row<'_, '_>) -> Result<(), SignerDbError>,
    ) -> Result<(), SignerDbError> {
        match self {
            Sql::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
                while let Some(row) = rows.next()? {
                    f(&Row::Sqlite(row))?;
                }
                Ok(())
            }
            Sql::Postgres {
                conn,
                in_transaction,
            } => {
                let rows = {
                    let mut pg = conn.borrow_mut();
                    let stmt = pg.statement(sql, in_transaction)?;
                    let client = pg.client(in_transaction)?;
                    client
                        .query(&stmt, &PgConn::params(params))
                        .map_err(pg_error)?
                };
                for row in &rows {
                    f(&Row::Postgres(row))?;
                }
                Ok(())
            }
        }
    }

    /// Runs a query and reads every row with `f`.
    pub(crate) fn rows<T>(
        self,
        sql: &str,
        params: &[Value],
        mut f: impl FnMut(&Row<'_, '_>) -> Result<T, SignerDbError>,
    ) -> Result<Vec<T>, SignerDbError> {
        let mut out = Vec::new();
        self.for_each(sql, params, |row| {
            out.push(f(row)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Runs a query and reads its first row with `f`, if it returned any.
    pub(crate) fn row<T>(
        self,
        sql: &str,
        params: &[Value],
        f: impl FnOnce(&Row<'_, '_>) -> Result<T, SignerDbError>,
    ) -> Result<Option<T>, SignerDbError> {
        let mut f = Some(f);
        let mut out = None;
        self.for_each(sql, params, |row| {
            if let Some(f) = f.take() {
                out = Some(f(row)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Whether a query returns any row.
    pub(crate) fn exists(self, sql: &str, params: &[Value]) -> Result<bool, SignerDbError> {
        Ok(self.row(sql, params, |_| Ok(()))?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_and_bare_placeholders_become_dollar_placeholders_outside_quotes() {
        assert_eq!(
            dollar_placeholders("SELECT a FROM t WHERE b = ?1 AND c IN (?2, ?12) AND d = '?'"),
            "SELECT a FROM t WHERE b = $1 AND c IN ($2, $12) AND d = '?'"
        );
        assert_eq!(dollar_placeholders("VALUES (?, ?)"), "VALUES ($1, $2)");
    }

    #[test]
    fn a_postgresql_url_names_the_postgresql_engine_and_anything_else_sqlite() {
        assert_eq!(
            Engine::of_location("postgresql://u:p@h/db"),
            Engine::Postgres
        );
        assert_eq!(Engine::of_location("postgres://h/db"), Engine::Postgres);
        assert_eq!(
            Engine::of_location("/var/lib/signer.sqlite"),
            Engine::Sqlite
        );
        assert_eq!(Engine::of_location(":memory:"), Engine::Sqlite);
    }

    #[test]
    fn booleans_and_options_bind_as_integers_and_null() {
        let values: &[Value] = sql_params![true, Some(7u32), None::<i64>, "x", [1u8, 2]];
        assert_eq!(
            values,
            &[
                Value::Int(1),
                Value::Int(7),
                Value::Null,
                Value::Text("x".into()),
                Value::Blob(vec![1, 2])
            ]
        );
    }
}
