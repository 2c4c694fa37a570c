//! The keyspaces of the store. Storage keeps one map of byte keys to byte values per space;
//! what the keys and values mean is the codec's business.

/// A keyspace of the store. The discriminant is the prefix byte used by engines that keep all
/// spaces in one tree; it is part of the on-disk format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Space {
    /// Store metadata and the catalog view.
    Meta = 0,
    /// The event log, by LSN.
    Log = 1,
    /// Transaction records, by transaction id.
    Tx = 2,
    /// Live rows by primary key (a view).
    Rows = 3,
    /// Unique, secondary and foreign-key indexes over live rows (a view).
    Index = 4,
    /// Version index: every event of a row by (table, pk, lsn) (a view).
    Hist = 5,
    /// Deletions by id (a view).
    Del = 6,
    /// Rows in the trash: (table, pk) → the deletion holding them (a view).
    Dead = 7,
    /// Members of each deletion: (deletion, table, pk) (a view).
    DelRows = 8,
    /// Unique values kept reserved by trashed rows of tables whose trash keeps keys (a view).
    Reserved = 9,
}

impl Space {
    /// Every space, in prefix order.
    pub const ALL: [Space; 10] = [
        Space::Meta,
        Space::Log,
        Space::Tx,
        Space::Rows,
        Space::Index,
        Space::Hist,
        Space::Del,
        Space::Dead,
        Space::DelRows,
        Space::Reserved,
    ];

    /// The spaces that are views (recomputed by a rebuild). Meta is partly a view (catalog and
    /// sequences); its other keys are not touched by a rebuild.
    pub const VIEWS: [Space; 7] = [
        Space::Rows,
        Space::Index,
        Space::Hist,
        Space::Del,
        Space::Dead,
        Space::DelRows,
        Space::Reserved,
    ];

    /// The name of the space (fjall keyspace name, messages).
    pub fn name(self) -> &'static str {
        match self {
            Space::Meta => "meta",
            Space::Log => "log",
            Space::Tx => "tx",
            Space::Rows => "rows",
            Space::Index => "index",
            Space::Hist => "hist",
            Space::Del => "del",
            Space::Dead => "dead",
            Space::DelRows => "delrows",
            Space::Reserved => "reserved",
        }
    }

    /// The prefix byte of this space in single-tree engines.
    pub fn prefix(self) -> u8 {
        self as u8
    }
}
