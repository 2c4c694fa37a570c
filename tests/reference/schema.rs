//! Tables of the model: the schema (columns, indexes, foreign keys, key policy, retention) and
//! the live rows.

use std::collections::BTreeMap;

use lazarusdb::{ColumnType, OnDelete, Retention, Row, Value};

use super::{tuple_cmp, Pk};

/// A column.
#[derive(Debug, Clone, PartialEq)]
pub struct Col {
    pub name: String,
    pub ty: ColumnType,
    pub nullable: bool,
    pub default: Option<Value>,
}

impl Col {
    /// A non-null column without default.
    pub fn new(name: impl Into<String>, ty: ColumnType) -> Col {
        Col {
            name: name.into(),
            ty,
            nullable: false,
            default: None,
        }
    }

    pub fn nullable(mut self) -> Col {
        self.nullable = true;
        self
    }

    pub fn with_default(mut self, v: impl Into<Value>) -> Col {
        self.default = Some(v.into());
        self
    }

    /// What a row written before the column existed (or an insert that omits it) reads.
    pub fn fill(&self) -> Value {
        self.default.clone().unwrap_or(Value::Null)
    }
}

/// An index (or unique constraint) over columns, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    pub cols: Vec<String>,
    pub unique: bool,
}

/// A foreign key: a column referencing the primary key of table `parent` (an index into
/// [`super::Model::t`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Fk {
    pub col: String,
    pub parent: usize,
    pub on_delete: OnDelete,
}

/// A live row: its image (every column, in column order) and the life it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub row: Row,
    pub life: usize,
}

/// A table: schema and live rows.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    /// The primary-key column.
    pub pk: String,
    pub cols: Vec<Col>,
    /// Every index `table_def` lists (the reverse indexes of foreign keys included, as the
    /// caller declares them); only the unique ones constrain.
    pub indexes: Vec<Index>,
    pub fks: Vec<Fk>,
    /// `trash_keeps_keys`.
    pub keeps: bool,
    pub rows: BTreeMap<Pk, Live>,
    /// The next omitted int key: the largest int key ever inserted + 1 (at least 1).
    pub seq: i64,
    /// The table's own retention policy (it replaces the store's as a whole).
    pub retention: Option<Retention>,
    /// As-of reads before this LSN are refused for good (a pruning moved it).
    pub horizon: u64,
}

impl Table {
    /// A table with no column yet; `pk` names its primary-key column.
    pub fn new(name: impl Into<String>, pk: impl Into<String>) -> Table {
        Table {
            name: name.into(),
            pk: pk.into(),
            cols: Vec::new(),
            indexes: Vec::new(),
            fks: Vec::new(),
            keeps: false,
            rows: BTreeMap::new(),
            seq: 1,
            retention: None,
            horizon: 0,
        }
    }

    pub fn column(mut self, c: Col) -> Table {
        self.cols.push(c);
        self
    }

    pub fn index(mut self, cols: &[&str], unique: bool) -> Table {
        self.indexes.push(Index {
            cols: cols.iter().map(|c| c.to_string()).collect(),
            unique,
        });
        self
    }

    /// A foreign key to table number `parent` (its reverse index is declared with
    /// [`Table::index`] when the caller compares `table_def`).
    pub fn foreign_key(mut self, col: &str, parent: usize, on_delete: OnDelete) -> Table {
        self.fks.push(Fk {
            col: col.to_string(),
            parent,
            on_delete,
        });
        self
    }

    pub fn keeps_keys(mut self, keeps: bool) -> Table {
        self.keeps = keeps;
        self
    }

    pub fn col(&self, name: &str) -> Option<&Col> {
        self.cols.iter().find(|c| c.name == name)
    }

    pub fn pk_ty(&self) -> ColumnType {
        self.col(&self.pk).map_or(ColumnType::Int, |c| c.ty)
    }

    /// The value of column `col` in `row` (an image of any age: a column added since reads
    /// its default).
    pub fn cell(&self, row: &Row, col: &str) -> Value {
        match row.get(col) {
            Some(v) => v.clone(),
            None => self.col(col).map_or(Value::Null, Col::fill),
        }
    }

    /// `row` in today's columns (those added since read their default), in column order.
    pub fn extend(&self, row: &Row) -> Row {
        self.cols
            .iter()
            .map(|c| (c.name.clone(), self.cell(row, &c.name)))
            .collect()
    }

    /// The values of `cols` in `row`.
    pub fn vals(&self, row: &Row, cols: &[String]) -> Vec<Value> {
        cols.iter().map(|c| self.cell(row, c)).collect()
    }

    /// The values a unique constraint over `cols` holds for `row`; `None` when one is null (a
    /// null never clashes).
    pub fn unique_vals(&self, row: &Row, cols: &[String]) -> Option<Vec<Value>> {
        let v = self.vals(row, cols);
        (!v.iter().any(Value::is_null)).then_some(v)
    }

    /// Whether `row` holds `vals` in `cols`.
    pub fn holds(&self, row: &Row, cols: &[String], vals: &[Value]) -> bool {
        self.vals(row, cols) == vals
    }

    /// The unique constraints, by position in [`Table::indexes`].
    pub fn uniques(&self) -> impl Iterator<Item = (usize, &Index)> {
        self.indexes.iter().enumerate().filter(|(_, i)| i.unique)
    }

    /// Index entries (values, key, row) in index order: values, then primary key.
    pub fn entries(&self, cols: &[String]) -> Vec<(Vec<Value>, &Pk, &Row)> {
        let mut out: Vec<(Vec<Value>, &Pk, &Row)> = self
            .rows
            .iter()
            .map(|(k, l)| (self.vals(&l.row, cols), k, &l.row))
            .collect();
        // stable: rows come in primary-key order, which breaks ties
        out.sort_by(|a, b| tuple_cmp(&a.0, &b.0));
        out
    }

    /// The live rows in key order.
    pub fn live(&self) -> impl Iterator<Item = (&Pk, &Row)> {
        self.rows.iter().map(|(k, l)| (k, &l.row))
    }

    /// The live rows that reference `parent` through foreign key `fk`.
    pub fn children_of<'a>(&'a self, fk: &'a Fk, parent: &Pk) -> impl Iterator<Item = &'a Pk> {
        let v = parent.value();
        self.rows
            .iter()
            .filter(move |(_, l)| self.cell(&l.row, &fk.col) == v)
            .map(|(k, _)| k)
    }
}
