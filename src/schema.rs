//! Tables, columns, indexes and foreign keys: definitions, the builder, the JSON schema file,
//! validation, and the in-memory catalog resolved from the definitions.
//!
//! Definitions ([`TableDef`] and its parts) are what schema events carry in the log; they name
//! columns and tables by name and are plain data (bincode-friendly: no skipped or flattened
//! fields). The [`Catalog`] resolves names to positions once, for the write and read paths.
//!
//! Schema changes are events too: creating a table, adding a column (nullable or with a
//! default), adding an index or unique constraint. Columns are only ever appended, so a row
//! image written before a column existed is a prefix of today's columns; the missing tail reads
//! as each column's default (or null).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::value::{ColumnType, Value};

/// What deleting a parent row does to the rows that reference it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum OnDelete {
    /// The children are tombstoned too, in the same deletion.
    Cascade,
    /// The delete is refused while live children exist.
    Restrict,
    /// The children's reference is set to null (a reversible update in the same deletion).
    SetNull,
}

impl OnDelete {
    /// The name used in schema files.
    pub fn name(self) -> &'static str {
        match self {
            OnDelete::Cascade => "cascade",
            OnDelete::Restrict => "restrict",
            OnDelete::SetNull => "set_null",
        }
    }
}

impl From<OnDelete> for String {
    fn from(o: OnDelete) -> String {
        o.name().to_string()
    }
}

impl TryFrom<String> for OnDelete {
    type Error = Error;
    fn try_from(s: String) -> Result<OnDelete> {
        match s.as_str() {
            "cascade" => Ok(OnDelete::Cascade),
            "restrict" => Ok(OnDelete::Restrict),
            "set_null" => Ok(OnDelete::SetNull),
            other => Err(Error::schema(format!(
                "unknown on_delete `{other}` (expected cascade, restrict or set_null)"
            ))),
        }
    }
}

impl From<ColumnType> for String {
    fn from(t: ColumnType) -> String {
        t.name().to_string()
    }
}

impl TryFrom<String> for ColumnType {
    type Error = Error;
    fn try_from(s: String) -> Result<ColumnType> {
        ColumnType::parse(&s)
    }
}

/// A column definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDef {
    /// Column name.
    pub name: String,
    /// Column type (stored by name: `int`, `text`, ...).
    #[serde(with = "column_type_by_name")]
    pub ty: ColumnType,
    /// Whether null is allowed.
    pub nullable: bool,
    /// Value used when an insert omits the column (and for rows written before the column was
    /// added).
    pub default: Option<Value>,
}

mod column_type_by_name {
    use super::*;
    pub fn serialize<S: serde::Serializer>(
        t: &ColumnType,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(t.name())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<ColumnType, D::Error> {
        let name = String::deserialize(d)?;
        ColumnType::parse(&name).map_err(serde::de::Error::custom)
    }
}

impl ColumnDef {
    /// A non-nullable column without default.
    pub fn new(name: impl Into<String>, ty: ColumnType) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            ty,
            nullable: false,
            default: None,
        }
    }

    /// Allows null.
    pub fn nullable(mut self) -> ColumnDef {
        self.nullable = true;
        self
    }

    /// Sets the default value.
    pub fn with_default(mut self, v: impl Into<Value>) -> ColumnDef {
        self.default = Some(v.into());
        self
    }

    /// The value a row without this column reads as.
    pub fn fill(&self) -> Value {
        self.default.clone().unwrap_or(Value::Null)
    }
}

impl<S: Into<String>> From<(S, ColumnType)> for ColumnDef {
    fn from((name, ty): (S, ColumnType)) -> ColumnDef {
        ColumnDef::new(name, ty)
    }
}

/// An index (unique or not) over one or more columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDef {
    /// Index id, unique within its table (assigned by the store).
    pub id: u32,
    /// Indexed columns, in key order.
    pub columns: Vec<String>,
    /// Whether the values must be unique among live rows (rows with a null in any indexed
    /// column never conflict).
    pub unique: bool,
}

/// A foreign key: a column referencing another table's primary key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKeyDef {
    /// The referencing column of this table.
    pub column: String,
    /// The referenced (parent) table.
    pub references: String,
    /// What deleting the parent does to this row.
    pub on_delete: OnDelete,
    /// The index over `column` that serves as the reverse index (children of a parent).
    pub index: u32,
}

/// A table definition as stored in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDef {
    /// Table id (assigned by the store, never reused).
    pub id: u32,
    /// Table name.
    pub name: String,
    /// Columns, in image order.
    pub columns: Vec<ColumnDef>,
    /// Name of the primary-key column.
    pub primary_key: String,
    /// Indexes and unique constraints (including foreign-key reverse indexes).
    pub indexes: Vec<IndexDef>,
    /// Foreign keys.
    pub foreign_keys: Vec<ForeignKeyDef>,
    /// Key policy: when true, a trashed row keeps its primary-key and unique values reserved
    /// until it is purged; when false (the default) they are free for new rows.
    pub trash_keeps_keys: bool,
}

/// A table to create, as given by the builder or the schema file (not yet validated).
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    /// Table name.
    pub name: String,
    /// Columns.
    pub columns: Vec<ColumnDef>,
    /// Primary-key column name.
    pub primary_key: Option<String>,
    /// Unique constraints (column lists).
    pub unique: Vec<Vec<String>>,
    /// Secondary indexes (column lists).
    pub indexes: Vec<Vec<String>>,
    /// Foreign keys: (column, referenced table, on delete).
    pub foreign_keys: Vec<(String, String, OnDelete)>,
    /// See [`TableDef::trash_keeps_keys`].
    pub trash_keeps_keys: bool,
}

/// Builds a [`TableSpec`].
///
/// ```
/// use lazarusdb::{ColumnType, OnDelete, TableBuilder};
/// let book = TableBuilder::new("book")
///     .column(("id", ColumnType::Int))
///     .column(("title", ColumnType::Text))
///     .column(("author_id", ColumnType::Int))
///     .primary_key("id")
///     .index(["title"])
///     .foreign_key("author_id", "author", OnDelete::Cascade)
///     .build();
/// assert_eq!(book.columns.len(), 3);
/// ```
#[derive(Debug, Clone)]
pub struct TableBuilder {
    spec: TableSpec,
}

impl TableBuilder {
    /// Starts a table.
    pub fn new(name: impl Into<String>) -> TableBuilder {
        TableBuilder {
            spec: TableSpec {
                name: name.into(),
                columns: Vec::new(),
                primary_key: None,
                unique: Vec::new(),
                indexes: Vec::new(),
                foreign_keys: Vec::new(),
                trash_keeps_keys: false,
            },
        }
    }

    /// Adds a column (`("name", ColumnType::Text)` or a [`ColumnDef`]).
    pub fn column(mut self, c: impl Into<ColumnDef>) -> TableBuilder {
        self.spec.columns.push(c.into());
        self
    }

    /// Names the primary-key column.
    pub fn primary_key(mut self, column: impl Into<String>) -> TableBuilder {
        self.spec.primary_key = Some(column.into());
        self
    }

    /// Adds a unique constraint over the columns.
    pub fn unique<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        columns: I,
    ) -> TableBuilder {
        self.spec
            .unique
            .push(columns.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a secondary index over the columns.
    pub fn index<I: IntoIterator<Item = S>, S: Into<String>>(mut self, columns: I) -> TableBuilder {
        self.spec
            .indexes
            .push(columns.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a foreign key from `column` to the primary key of `references`.
    pub fn foreign_key(
        mut self,
        column: impl Into<String>,
        references: impl Into<String>,
        on_delete: OnDelete,
    ) -> TableBuilder {
        self.spec
            .foreign_keys
            .push((column.into(), references.into(), on_delete));
        self
    }

    /// Declares that this table's trash keeps primary-key and unique values reserved until purged.
    pub fn trash_keeps_keys(mut self, yes: bool) -> TableBuilder {
        self.spec.trash_keeps_keys = yes;
        self
    }

    /// The finished specification (validated when it is applied to a store).
    pub fn build(self) -> TableSpec {
        self.spec
    }
}

impl From<TableBuilder> for TableSpec {
    fn from(b: TableBuilder) -> TableSpec {
        b.build()
    }
}

// ---------------------------------------------------------------------------------------------
// The JSON schema file.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSchema {
    tables: Vec<FileTable>,
    #[serde(default)]
    retention: Option<FileRetention>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRetention {
    #[serde(default)]
    deletions: Option<String>,
    #[serde(default)]
    history: Option<String>,
}

impl FileRetention {
    fn parse(&self, whose: &str) -> Result<Retention> {
        let one = |field: &str, v: &Option<String>| -> Result<Option<u64>> {
            match v {
                None => Ok(None),
                Some(text) => parse_duration(text)
                    .map(Some)
                    .map_err(|e| Error::schema(format!("{whose} retention, `{field}`: {e}"))),
            }
        };
        let policy = Retention {
            deletions: one("deletions", &self.deletions)?,
            history: one("history", &self.history)?,
        };
        if [policy.deletions, policy.history].contains(&Some(0)) {
            return Err(Error::schema(format!(
                "{whose} retention: a window must be at least one second"
            )));
        }
        Ok(policy)
    }
}

/// A parsed schema file: its tables and the retention policies it sets.
#[derive(Debug, Clone)]
pub struct SchemaFile {
    /// The tables to create or extend.
    pub tables: Vec<TableSpec>,
    /// Retention policies: (table, or `None` for the store's default; the policy). A policy
    /// given in the file replaces the one in force (missing fields mean "keep for ever").
    pub retention: Vec<(Option<String>, Retention)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTable {
    name: String,
    primary_key: String,
    columns: Vec<FileColumn>,
    #[serde(default)]
    unique: Vec<Vec<String>>,
    #[serde(default)]
    indexes: Vec<Vec<String>>,
    #[serde(default)]
    foreign_keys: Vec<FileForeignKey>,
    #[serde(default)]
    trash_keeps_keys: bool,
    #[serde(default)]
    retention: Option<FileRetention>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileColumn {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    nullable: bool,
    #[serde(default)]
    default: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForeignKey {
    column: String,
    references: String,
    #[serde(default = "default_on_delete")]
    on_delete: String,
}

fn default_on_delete() -> String {
    "restrict".into()
}

/// Parses a JSON schema file (see the README for its format) into table specifications.
///
/// ```
/// let specs = lazarusdb::parse_schema_file(r#"{"tables": [{"name": "a", "primary_key": "id",
///     "columns": [{"name": "id", "type": "int"}]}]}"#).unwrap();
/// assert_eq!(specs[0].name, "a");
/// ```
///
/// The file's retention settings are not part of the tables: [`parse_schema_document`] returns
/// them too, and [`crate::Db::apply_schema_file`] applies everything.
pub fn parse_schema_file(text: &str) -> Result<Vec<TableSpec>> {
    parse_schema_document(text).map(|d| d.tables)
}

/// Parses a JSON schema file with its retention settings: a top-level
/// `"retention": {"deletions": "30d", "history": "90d"}` for the store and the same object per
/// table.
pub fn parse_schema_document(text: &str) -> Result<SchemaFile> {
    let file: FileSchema = serde_json::from_str(text)
        .map_err(|e| Error::schema(format!("malformed schema file: {e}")))?;
    let mut retention = Vec::new();
    if let Some(r) = &file.retention {
        retention.push((None, r.parse("the store's")?));
    }
    let mut specs = Vec::with_capacity(file.tables.len());
    for t in file.tables {
        if let Some(r) = &t.retention {
            retention.push((
                Some(t.name.clone()),
                r.parse(&format!("table `{}`", t.name))?,
            ));
        }
        let mut columns = Vec::with_capacity(t.columns.len());
        for c in t.columns {
            let ty = ColumnType::parse(&c.ty).map_err(|e| {
                Error::schema(format!("table `{}`, column `{}`: {e}", t.name, c.name))
            })?;
            let default = match c.default {
                None => None,
                Some(j) => Some(Value::from_json(&j).map_err(|e| {
                    Error::schema(format!(
                        "table `{}`, column `{}` default: {e}",
                        t.name, c.name
                    ))
                })?),
            };
            columns.push(ColumnDef {
                name: c.name,
                ty,
                nullable: c.nullable,
                default,
            });
        }
        let mut fks = Vec::with_capacity(t.foreign_keys.len());
        for f in t.foreign_keys {
            let od = OnDelete::try_from(f.on_delete).map_err(|e| {
                Error::schema(format!(
                    "table `{}`, foreign key `{}`: {e}",
                    t.name, f.column
                ))
            })?;
            fks.push((f.column, f.references, od));
        }
        specs.push(TableSpec {
            name: t.name,
            columns,
            primary_key: Some(t.primary_key),
            unique: t.unique,
            indexes: t.indexes,
            foreign_keys: fks,
            trash_keeps_keys: t.trash_keeps_keys,
        });
    }
    Ok(SchemaFile {
        tables: specs,
        retention,
    })
}

/// Renders table definitions in the schema-file format (the inverse of [`parse_schema_file`]).
pub fn schema_to_json(tables: &[&TableDef]) -> serde_json::Value {
    let tables: Vec<serde_json::Value> = tables
        .iter()
        .map(|t| {
            let columns: Vec<serde_json::Value> = t
                .columns
                .iter()
                .map(|c| {
                    let mut o = serde_json::Map::new();
                    o.insert("name".into(), c.name.clone().into());
                    o.insert("type".into(), c.ty.name().into());
                    if c.nullable {
                        o.insert("nullable".into(), true.into());
                    }
                    if let Some(d) = &c.default {
                        o.insert("default".into(), d.to_json());
                    }
                    serde_json::Value::Object(o)
                })
                .collect();
            let fk_indexes: HashSet<u32> = t.foreign_keys.iter().map(|f| f.index).collect();
            let unique: Vec<&Vec<String>> =
                t.indexes.iter().filter(|i| i.unique).map(|i| &i.columns).collect();
            let indexes: Vec<&Vec<String>> = t
                .indexes
                .iter()
                .filter(|i| !i.unique && !fk_indexes.contains(&i.id))
                .map(|i| &i.columns)
                .collect();
            let fks: Vec<serde_json::Value> = t
                .foreign_keys
                .iter()
                .map(|f| serde_json::json!({"column": f.column, "references": f.references, "on_delete": f.on_delete.name()}))
                .collect();
            let mut o = serde_json::Map::new();
            o.insert("name".into(), t.name.clone().into());
            o.insert("primary_key".into(), t.primary_key.clone().into());
            o.insert("columns".into(), columns.into());
            if !unique.is_empty() {
                o.insert("unique".into(), serde_json::json!(unique));
            }
            if !indexes.is_empty() {
                o.insert("indexes".into(), serde_json::json!(indexes));
            }
            if !fks.is_empty() {
                o.insert("foreign_keys".into(), fks.into());
            }
            if t.trash_keeps_keys {
                o.insert("trash_keeps_keys".into(), true.into());
            }
            serde_json::Value::Object(o)
        })
        .collect();
    serde_json::json!({ "tables": tables })
}

// ---------------------------------------------------------------------------------------------
// The resolved catalog.

/// An index resolved to column positions.
#[derive(Debug, Clone)]
pub struct Index {
    /// Index id.
    pub id: u32,
    /// Column positions in the image, in key order.
    pub cols: Vec<usize>,
    /// Unique among live rows.
    pub unique: bool,
}

/// A foreign key resolved to positions and ids.
#[derive(Debug, Clone)]
pub struct ForeignKey {
    /// Position of the referencing column.
    pub col: usize,
    /// Parent table id.
    pub parent: u32,
    /// On-delete behaviour.
    pub on_delete: OnDelete,
    /// The reverse index (over `col`).
    pub index: u32,
}

/// A table with its names resolved, as the read and write paths use it.
#[derive(Debug, Clone)]
pub struct Table {
    /// The definition as stored.
    pub def: TableDef,
    /// Position of the primary-key column.
    pub pk: usize,
    /// Column positions by name.
    pub col_pos: BTreeMap<String, usize>,
    /// Column names, shared with every row read from this table.
    pub names: Arc<Vec<Arc<str>>>,
    /// Indexes (unique, secondary, foreign-key reverse).
    pub indexes: Vec<Index>,
    /// Foreign keys of this table (to its parents).
    pub fks: Vec<ForeignKey>,
}

impl Table {
    /// The table id.
    pub fn id(&self) -> u32 {
        self.def.id
    }

    /// The table name.
    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// The primary-key column definition.
    pub fn pk_column(&self) -> Option<&ColumnDef> {
        self.def.columns.get(self.pk)
    }

    /// The position of a column, or an error naming the table and column.
    pub fn column(&self, name: &str) -> Result<usize> {
        self.col_pos
            .get(name)
            .copied()
            .ok_or_else(|| Error::UnknownColumn {
                table: self.def.name.clone(),
                column: name.to_string(),
            })
    }

    /// The index over exactly these columns.
    pub fn index_on(&self, columns: &[&str]) -> Result<&Index> {
        let pos: Vec<usize> = columns
            .iter()
            .map(|c| self.column(c))
            .collect::<Result<_>>()?;
        self.indexes
            .iter()
            .find(|i| i.cols == pos)
            .ok_or_else(|| Error::UnknownIndex {
                table: self.def.name.clone(),
                columns: columns.join(", "),
            })
    }

    fn resolve(def: TableDef, ids: &BTreeMap<String, u32>) -> Result<Table> {
        let col_pos: BTreeMap<String, usize> = def
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        let pos = |name: &str| {
            col_pos.get(name).copied().ok_or_else(|| {
                Error::schema(format!("table `{}` has no column `{name}`", def.name))
            })
        };
        let pk = pos(&def.primary_key)?;
        let indexes = def
            .indexes
            .iter()
            .map(|i| {
                if i.id >= crate::codec::PAST_INDEX_BIT {
                    return Err(Error::schema(format!(
                        "table `{}`: index id {} is out of range (ids are below 2^31)",
                        def.name, i.id
                    )));
                }
                Ok(Index {
                    id: i.id,
                    cols: i.columns.iter().map(|c| pos(c)).collect::<Result<_>>()?,
                    unique: i.unique,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let fks = def
            .foreign_keys
            .iter()
            .map(|f| {
                Ok(ForeignKey {
                    col: pos(&f.column)?,
                    parent: ids.get(&f.references).copied().ok_or_else(|| {
                        Error::schema(format!("unknown referenced table `{}`", f.references))
                    })?,
                    on_delete: f.on_delete,
                    index: f.index,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let names = Arc::new(
            def.columns
                .iter()
                .map(|c| Arc::from(c.name.as_str()))
                .collect(),
        );
        Ok(Table {
            def,
            pk,
            col_pos,
            names,
            indexes,
            fks,
        })
    }
}

/// Every table of the store, resolved. Cheap to clone (tables are shared).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    tables: BTreeMap<u32, Arc<Table>>,
    by_name: BTreeMap<String, u32>,
    /// Child links: parent table id → (child table id, index in the child's `fks`).
    children: HashMap<u32, Vec<(u32, usize)>>,
}

impl Catalog {
    /// A table by name.
    pub fn table(&self, name: &str) -> Result<&Arc<Table>> {
        self.by_name
            .get(name)
            .and_then(|id| self.tables.get(id))
            .ok_or_else(|| Error::UnknownTable(name.to_string()))
    }

    /// A table by id.
    pub fn by_id(&self, id: u32) -> Result<&Arc<Table>> {
        self.tables
            .get(&id)
            .ok_or_else(|| Error::corrupted("catalog", format!("unknown table id {id}")))
    }

    /// Every table, in id (creation) order.
    pub fn tables(&self) -> impl Iterator<Item = &Arc<Table>> {
        self.tables.values()
    }

    /// The foreign keys that reference `parent`: (child table, foreign key).
    pub fn children_of(&self, parent: u32) -> impl Iterator<Item = (&Arc<Table>, &ForeignKey)> {
        self.children
            .get(&parent)
            .into_iter()
            .flatten()
            .filter_map(|(child, fk)| {
                let t = self.tables.get(child)?;
                Some((t, t.fks.get(*fk)?))
            })
    }

    /// The id the next created table gets.
    pub fn next_table_id(&self) -> u32 {
        self.tables.keys().next_back().map_or(1, |id| id + 1)
    }

    /// Adds or replaces table definitions (applying a schema event). Tables given together may
    /// reference each other. On error the catalog is unchanged.
    pub fn put(&mut self, defs: Vec<TableDef>) -> Result<()> {
        let mut next = self.clone();
        for d in &defs {
            next.by_name.insert(d.name.clone(), d.id);
        }
        for d in defs {
            let table = Table::resolve(d, &next.by_name)?;
            next.tables.insert(table.def.id, Arc::new(table));
        }
        let mut children: HashMap<u32, Vec<(u32, usize)>> = HashMap::new();
        for t in next.tables.values() {
            for (i, fk) in t.fks.iter().enumerate() {
                children.entry(fk.parent).or_default().push((t.def.id, i));
            }
        }
        next.children = children;
        *self = next;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Validation.

fn check_name(what: &str, name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok_first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !ok_first || name.len() > 64 || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::schema(format!(
            "{what} name `{name}` is not valid: use letters, digits and _ (not first), at most 64 characters"
        )));
    }
    Ok(())
}

fn check_default(table: &str, c: &ColumnDef) -> Result<Option<Value>> {
    match &c.default {
        None => Ok(None),
        Some(Value::Null) if c.nullable => Ok(Some(Value::Null)),
        Some(Value::Null) => Err(Error::schema(format!(
            "table `{table}`, column `{}`: a null default on a non-nullable column",
            c.name
        ))),
        Some(v) => v.clone().coerce(c.ty).map(Some).map_err(|v| {
            Error::schema(format!(
                "table `{table}`, column `{}`: default {} is not {}",
                c.name, v, c.ty
            ))
        }),
    }
}

/// Validates specs of new tables against the catalog (and each other: tables created together
/// may reference each other) and turns them into definitions with ids.
pub fn validate_new_tables(catalog: &Catalog, specs: &[TableSpec]) -> Result<Vec<TableDef>> {
    let mut names: HashMap<&str, &TableSpec> = HashMap::new();
    for s in specs {
        check_name("table", &s.name)?;
        if catalog.table(&s.name).is_ok() || names.insert(&s.name, s).is_some() {
            return Err(Error::schema(format!(
                "table `{}` is defined twice",
                s.name
            )));
        }
    }
    let mut defs = Vec::with_capacity(specs.len());
    for (next_id, s) in (catalog.next_table_id()..).zip(specs.iter()) {
        let t = &s.name;
        if s.columns.is_empty() {
            return Err(Error::schema(format!("table `{t}` has no columns")));
        }
        let mut cols: Vec<ColumnDef> = Vec::with_capacity(s.columns.len());
        let mut seen = HashSet::new();
        for c in &s.columns {
            check_name("column", &c.name)?;
            if !seen.insert(c.name.as_str()) {
                return Err(Error::schema(format!(
                    "table `{t}`: column `{}` is defined twice",
                    c.name
                )));
            }
            let mut c = c.clone();
            c.default = check_default(t, &c)?;
            cols.push(c);
        }
        let pk_name = s
            .primary_key
            .clone()
            .ok_or_else(|| Error::schema(format!("table `{t}` has no primary key")))?;
        let pk = cols.iter_mut().find(|c| c.name == pk_name).ok_or_else(|| {
            Error::schema(format!(
                "table `{t}`: primary key `{pk_name}` is not a column"
            ))
        })?;
        if !matches!(pk.ty, ColumnType::Int | ColumnType::Uuid | ColumnType::Text) {
            return Err(Error::schema(format!(
                "table `{t}`: primary key `{pk_name}` is {}; it must be int, uuid or text",
                pk.ty
            )));
        }
        if pk.nullable {
            return Err(Error::schema(format!(
                "table `{t}`: primary key `{pk_name}` cannot be nullable"
            )));
        }
        if pk.default.is_some() {
            return Err(Error::schema(format!(
                "table `{t}`: primary key `{pk_name}` cannot have a default"
            )));
        }
        let col_type = |name: &str| {
            cols.iter()
                .find(|c| c.name == name)
                .map(|c| (c.ty, c.nullable))
        };
        let mut indexes: Vec<IndexDef> = Vec::new();
        let add_index =
            |columns: &Vec<String>, unique: bool, indexes: &mut Vec<IndexDef>| -> Result<u32> {
                if columns.is_empty() {
                    return Err(Error::schema(format!(
                        "table `{t}`: an index needs at least one column"
                    )));
                }
                let mut seen = HashSet::new();
                for c in columns {
                    if col_type(c).is_none() {
                        return Err(Error::schema(format!(
                            "table `{t}`: index column `{c}` is not a column"
                        )));
                    }
                    if !seen.insert(c) {
                        return Err(Error::schema(format!(
                            "table `{t}`: column `{c}` repeated in an index"
                        )));
                    }
                }
                if let Some(existing) = indexes.iter_mut().find(|i| &i.columns == columns) {
                    if existing.unique == unique || !unique {
                        return Err(Error::schema(format!(
                            "table `{t}`: an index over ({}) is defined twice",
                            columns.join(", ")
                        )));
                    }
                    existing.unique = true;
                    return Ok(existing.id);
                }
                let id = u32::try_from(indexes.len() + 1)
                    .map_err(|_| Error::schema("too many indexes"))?;
                indexes.push(IndexDef {
                    id,
                    columns: columns.clone(),
                    unique,
                });
                Ok(id)
            };
        for u in &s.unique {
            add_index(u, true, &mut indexes)?;
        }
        for i in &s.indexes {
            add_index(i, false, &mut indexes)?;
        }
        let mut fks = Vec::with_capacity(s.foreign_keys.len());
        let mut fk_cols = HashSet::new();
        for (column, references, on_delete) in &s.foreign_keys {
            let (ty, nullable) = col_type(column).ok_or_else(|| {
                Error::schema(format!(
                    "table `{t}`: foreign key column `{column}` is not a column"
                ))
            })?;
            if !fk_cols.insert(column) {
                return Err(Error::schema(format!(
                    "table `{t}`: column `{column}` has two foreign keys"
                )));
            }
            let parent_pk_type = if references == t {
                col_type(&pk_name).map(|c| c.0)
            } else if let Some(p) = names.get(references.as_str()) {
                let pkn = p.primary_key.as_deref().unwrap_or_default();
                p.columns.iter().find(|c| c.name == pkn).map(|c| c.ty)
            } else {
                let p = catalog.table(references).map_err(|_| {
                    Error::schema(format!("table `{t}`: foreign key `{column}` references unknown table `{references}`"))
                })?;
                p.pk_column().map(|c| c.ty)
            };
            let parent_pk_type = parent_pk_type.ok_or_else(|| {
                Error::schema(format!(
                    "table `{t}`: referenced table `{references}` has no primary key"
                ))
            })?;
            if parent_pk_type != ty {
                return Err(Error::schema(format!(
                    "table `{t}`: foreign key `{column}` is {ty} but `{references}`'s primary key is {parent_pk_type}"
                )));
            }
            if *on_delete == OnDelete::SetNull && !nullable {
                return Err(Error::schema(format!(
                    "table `{t}`: foreign key `{column}` is on_delete set_null but the column is not nullable"
                )));
            }
            let cols_vec = vec![column.clone()];
            let index = match indexes.iter().find(|i| i.columns == cols_vec) {
                Some(i) => i.id,
                None => add_index(&cols_vec, false, &mut indexes)?,
            };
            fks.push(ForeignKeyDef {
                column: column.clone(),
                references: references.clone(),
                on_delete: *on_delete,
                index,
            });
        }
        defs.push(TableDef {
            id: next_id,
            name: t.clone(),
            columns: cols,
            primary_key: pk_name,
            indexes,
            foreign_keys: fks,
            trash_keeps_keys: s.trash_keeps_keys,
        });
    }
    Ok(defs)
}

/// Validates a column to add to an existing table.
pub fn validate_new_column(table: &Table, column: &ColumnDef) -> Result<ColumnDef> {
    let t = table.name();
    check_name("column", &column.name)?;
    if table.col_pos.contains_key(&column.name) {
        return Err(Error::schema(format!(
            "table `{t}` already has a column `{}`",
            column.name
        )));
    }
    let mut c = column.clone();
    c.default = check_default(t, &c)?;
    if !c.nullable && c.default.is_none() {
        return Err(Error::schema(format!(
            "table `{t}`: a column added later must be nullable or have a default (`{}` is neither)",
            c.name
        )));
    }
    Ok(c)
}

/// Validates an index to add to an existing table and gives it an id.
pub fn validate_new_index(table: &Table, columns: &[String], unique: bool) -> Result<IndexDef> {
    let t = table.name();
    if columns.is_empty() {
        return Err(Error::schema(format!(
            "table `{t}`: an index needs at least one column"
        )));
    }
    let mut pos = Vec::new();
    for c in columns {
        let p = table.col_pos.get(c).ok_or_else(|| {
            Error::schema(format!("table `{t}`: index column `{c}` is not a column"))
        })?;
        if pos.contains(p) {
            return Err(Error::schema(format!(
                "table `{t}`: column `{c}` repeated in an index"
            )));
        }
        pos.push(*p);
    }
    if table
        .indexes
        .iter()
        .any(|i| i.cols == pos && (i.unique || !unique))
    {
        return Err(Error::schema(format!(
            "table `{t}`: an index over ({}) already exists",
            columns.join(", ")
        )));
    }
    let id = table.def.indexes.iter().map(|i| i.id).max().unwrap_or(0) + 1;
    Ok(IndexDef {
        id,
        columns: columns.to_vec(),
        unique,
    })
}

/// A retention policy: how long deletions and old versions are kept (seconds; `None` = for
/// ever).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Retention {
    /// Deletions older than this are purged by `apply_retention`.
    pub deletions: Option<u64>,
    /// Versions older than this that are not a row's latest image are dropped.
    pub history: Option<u64>,
}

impl Retention {
    /// True when the policy keeps everything.
    pub fn is_empty(&self) -> bool {
        self.deletions.is_none() && self.history.is_none()
    }
}

/// Parses a duration such as `30d`, `12h`, `90m`, `45s`, `2w` (or a plain number of seconds)
/// into seconds.
pub fn parse_duration(text: &str) -> Result<u64> {
    let t = text.trim();
    let bad = || {
        Error::invalid(format!(
            "`{text}` is not a duration: write a whole number and a unit, e.g. 30d, 12h, 90m, 45s, 2w"
        ))
    };
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    let secs = n.checked_mul(mult).ok_or_else(bad)?;
    // Windows are applied to microsecond timestamps: keep them within i64 microseconds.
    if secs > (i64::MAX / 1_000_000) as u64 {
        return Err(Error::invalid(format!("`{text}` is too long a duration")));
    }
    Ok(secs)
}

/// Writes seconds back in the largest unit that divides them (`86400` → `1d`).
pub fn format_duration(secs: u64) -> String {
    for (unit, size) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs != 0 && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_parse_and_print() {
        assert_eq!(parse_duration("30d").unwrap(), 30 * 86_400);
        assert_eq!(parse_duration("12h").unwrap(), 12 * 3_600);
        assert_eq!(parse_duration(" 90m ").unwrap(), 5_400);
        assert_eq!(parse_duration("45s").unwrap(), 45);
        assert_eq!(parse_duration("2w").unwrap(), 14 * 86_400);
        assert_eq!(parse_duration("7").unwrap(), 7);
        for bad in ["", "d", "3x", "-1d", "1.5d", "99999999999999999999d", "1 d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(86_400), "1d");
        assert_eq!(format_duration(14 * 86_400), "2w");
        assert_eq!(format_duration(5_400), "90m");
        assert_eq!(format_duration(61), "61s");
        assert_eq!(format_duration(0), "0s");
    }

    use super::*;

    fn cat(specs: &[TableSpec]) -> Result<Catalog> {
        let mut c = Catalog::default();
        let defs = validate_new_tables(&c, specs)?;
        c.put(defs)?;
        Ok(c)
    }

    fn author() -> TableSpec {
        TableBuilder::new("author")
            .column(("id", ColumnType::Int))
            .column(("email", ColumnType::Text))
            .primary_key("id")
            .unique(["email"])
            .build()
    }

    #[test]
    fn foreign_keys_get_a_reverse_index_and_child_links() {
        let book = TableBuilder::new("book")
            .column(("id", ColumnType::Int))
            .column(("author_id", ColumnType::Int))
            .primary_key("id")
            .foreign_key("author_id", "author", OnDelete::Cascade)
            .build();
        let c = cat(&[author(), book]).unwrap();
        let b = c.table("book").unwrap();
        assert_eq!(b.fks.len(), 1);
        assert_eq!(b.indexes.len(), 1);
        let a = c.table("author").unwrap();
        assert_eq!(c.children_of(a.id()).count(), 1);
    }

    #[test]
    fn two_tables_may_reference_each_other_when_created_together() {
        let a = TableBuilder::new("a")
            .column(("id", ColumnType::Int))
            .column(ColumnDef::new("b_id", ColumnType::Int).nullable())
            .primary_key("id")
            .foreign_key("b_id", "b", OnDelete::SetNull)
            .build();
        let b = TableBuilder::new("b")
            .column(("id", ColumnType::Int))
            .column(("a_id", ColumnType::Int))
            .primary_key("id")
            .foreign_key("a_id", "a", OnDelete::Cascade)
            .build();
        let c = cat(&[a, b]).unwrap();
        assert_eq!(c.table("a").unwrap().fks.len(), 1);
        assert_eq!(c.table("b").unwrap().fks.len(), 1);
    }

    #[test]
    fn bad_schemas_are_typed_errors() {
        let dup = TableBuilder::new("t")
            .column(("id", ColumnType::Int))
            .column(("id", ColumnType::Text))
            .primary_key("id")
            .build();
        assert!(matches!(cat(&[dup]), Err(Error::InvalidSchema(_))));
        let fk_type = TableBuilder::new("t")
            .column(("id", ColumnType::Int))
            .column(("a", ColumnType::Text))
            .primary_key("id")
            .foreign_key("a", "author", OnDelete::Cascade)
            .build();
        assert!(matches!(
            cat(&[author(), fk_type]),
            Err(Error::InvalidSchema(_))
        ));
        let unknown = TableBuilder::new("t")
            .column(("id", ColumnType::Int))
            .primary_key("id")
            .foreign_key("id", "nope", OnDelete::Cascade)
            .build();
        assert!(matches!(cat(&[unknown]), Err(Error::InvalidSchema(_))));
        assert!(matches!(
            parse_schema_file(
                r#"{"tables":[{"name":"t","primary_key":"id","columns":[{"name":"id","type":"integer"}]}]}"#
            ),
            Err(Error::InvalidSchema(_))
        ));
        assert!(matches!(
            cat(&[author(), author()]),
            Err(Error::InvalidSchema(_))
        ));
    }

    #[test]
    fn schema_file_round_trips() {
        let text = r#"{"tables": [
          {"name": "author", "primary_key": "id",
           "columns": [{"name": "id", "type": "int"},
                       {"name": "email", "type": "text"},
                       {"name": "name", "type": "text", "nullable": true}],
           "unique": [["email"]]},
          {"name": "book", "primary_key": "id",
           "columns": [{"name": "id", "type": "int"},
                       {"name": "title", "type": "text"},
                       {"name": "author_id", "type": "int"}],
           "indexes": [["title"]],
           "foreign_keys": [{"column": "author_id", "references": "author", "on_delete": "cascade"}]}
        ]}"#;
        let c = cat(&parse_schema_file(text).unwrap()).unwrap();
        let defs: Vec<&TableDef> = c.tables().map(|t| &t.def).collect();
        let json = schema_to_json(&defs);
        let again = cat(&parse_schema_file(&json.to_string()).unwrap()).unwrap();
        let defs2: Vec<&TableDef> = again.tables().map(|t| &t.def).collect();
        assert_eq!(defs, defs2);
    }
}
