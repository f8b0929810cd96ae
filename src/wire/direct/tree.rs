//! A [`Sink`] that builds plain Rust trees shaped like the Lua tables the
//! binding makes, and the same tree built from a `DynamicMessage` the way
//! `lua::fast` converts one. Tests and fuzz harnesses compare the two
//! without a Lua state.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use prost_reflect::{DynamicMessage, Kind, MapKey, Value};

use super::{Fallback, Scalar, Sink};
use crate::wire::schema::Field;

/// A Lua table key: strings, numbers (by value; -0 is 0) and booleans.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Str(Vec<u8>),
    Num(u64),
    Bool(bool),
}

impl Key {
    pub(crate) fn num(x: f64) -> Key {
        Key::Num(if x == 0.0 { 0 } else { x.to_bits() })
    }
}

/// A Lua value as the binding makes them.
#[derive(Debug, Clone)]
pub enum Node {
    Num(f64),
    Bool(bool),
    Str(Vec<u8>),
    Table(BTreeMap<Key, Node>),
}

impl Node {
    /// A table's field by name.
    pub fn get(&self, name: &str) -> Option<&Node> {
        match self {
            Node::Table(t) => t.get(&Key::Str(name.as_bytes().to_vec())),
            _ => None,
        }
    }
}

impl PartialEq for Node {
    fn eq(&self, other: &Node) -> bool {
        match (self, other) {
            // NaN equals NaN here: both sides read the same bytes.
            (Node::Num(a), Node::Num(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Node::Bool(a), Node::Bool(b)) => a == b,
            (Node::Str(a), Node::Str(b)) => a == b,
            (Node::Table(a), Node::Table(b)) => a == b,
            _ => false,
        }
    }
}

type Shared = Rc<RefCell<BTreeMap<Key, Slot>>>;

#[derive(Debug, Clone)]
enum Slot {
    Leaf(Node),
    Table(Shared),
}

/// Builds [`Node`] trees.
#[derive(Debug, Default)]
pub struct TreeSink {
    stack: Vec<Shared>,
}

fn leaf(v: Scalar<'_>) -> Slot {
    Slot::Leaf(match v {
        Scalar::Num(x) => Node::Num(x),
        Scalar::Bool(b) => Node::Bool(b),
        Scalar::Str(s) => Node::Str(s.to_vec()),
        Scalar::Enum(name) => Node::Str(name.text.as_bytes().to_vec()),
    })
}

fn key(v: Scalar<'_>) -> Key {
    match v {
        Scalar::Num(x) => Key::num(x),
        Scalar::Bool(b) => Key::Bool(b),
        Scalar::Str(s) => Key::Str(s.to_vec()),
        Scalar::Enum(name) => Key::Str(name.text.as_bytes().to_vec()),
    }
}

fn freeze(t: &Shared) -> Node {
    Node::Table(
        t.borrow()
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Slot::Leaf(n) => n.clone(),
                    Slot::Table(t) => freeze(t),
                };
                (k.clone(), v)
            })
            .collect(),
    )
}

impl TreeSink {
    fn at(&self, slot: i32) -> Shared {
        usize::try_from(slot - 1)
            .ok()
            .and_then(|i| self.stack.get(i))
            .cloned()
            .unwrap_or_default()
    }

    fn push_new(&mut self) -> Shared {
        let t: Shared = Rc::default();
        self.stack.push(t.clone());
        t
    }

    /// The table at the top of the stack, as a tree.
    pub fn result(&self) -> Option<Node> {
        self.stack.last().map(freeze)
    }
}

impl Sink for TreeSink {
    fn top(&self) -> i32 {
        self.stack.len() as i32
    }
    fn settop(&mut self, slot: i32) {
        self.stack.truncate(usize::try_from(slot).unwrap_or(0));
    }
    fn grow(&mut self) -> Result<(), Fallback> {
        Ok(())
    }
    fn new_table(&mut self, _: usize, _: usize) {
        self.push_new();
    }
    fn set(&mut self, t: i32, k: &'static Field, v: Scalar<'_>) {
        self.at(t)
            .borrow_mut()
            .insert(Key::Str(k.name.as_bytes().to_vec()), leaf(v));
    }
    fn unset(&mut self, t: i32, k: &'static Field) {
        self.at(t)
            .borrow_mut()
            .remove(&Key::Str(k.name.as_bytes().to_vec()));
    }
    fn child(&mut self, t: i32, k: &'static Field, _: usize, _: usize) -> usize {
        let parent = self.at(t);
        let k = Key::Str(k.name.as_bytes().to_vec());
        let existing = match parent.borrow().get(&k) {
            Some(Slot::Table(c)) => Some(c.clone()),
            _ => None,
        };
        if let Some(c) = existing {
            // Lua's # of a list built with rawseti 1..n.
            let mut n = 0;
            while c.borrow().contains_key(&Key::num((n + 1) as f64)) {
                n += 1;
            }
            self.stack.push(c);
            return n;
        }
        let c = self.push_new();
        parent.borrow_mut().insert(k, Slot::Table(c));
        0
    }
    fn new_child(&mut self, t: i32, k: &'static Field, _: usize, _: usize) {
        let parent = self.at(t);
        let c = self.push_new();
        let old = parent
            .borrow_mut()
            .insert(Key::Str(k.name.as_bytes().to_vec()), Slot::Table(c));
        assert!(old.is_none(), "new_child over a set field {}", k.name);
    }
    fn seti(&mut self, t: i32, i: usize, v: Scalar<'_>) {
        self.at(t).borrow_mut().insert(Key::num(i as f64), leaf(v));
    }
    fn child_at(&mut self, t: i32, i: usize, _: usize) {
        let parent = self.at(t);
        let c = self.push_new();
        parent
            .borrow_mut()
            .insert(Key::num(i as f64), Slot::Table(c));
    }
    fn set_kv(&mut self, t: i32, k: Scalar<'_>, v: Scalar<'_>) {
        self.at(t).borrow_mut().insert(key(k), leaf(v));
    }
    fn set_k_top(&mut self, t: i32, k: Scalar<'_>) {
        let Some(c) = self.stack.pop() else {
            return;
        };
        self.at(t).borrow_mut().insert(key(k), Slot::Table(c));
    }
}

/// The tree `lua::fast` makes of a decoded message (same rules: set
/// fields only, enums by name or else number, lists and maps as tables).
pub fn from_message(m: &DynamicMessage) -> Node {
    Node::Table(
        m.fields()
            .map(|(f, v)| (Key::Str(f.name().as_bytes().to_vec()), field(&f.kind(), v)))
            .collect(),
    )
}

fn field(kind: &Kind, v: &Value) -> Node {
    match v {
        Value::List(items) => Node::Table(
            items
                .iter()
                .enumerate()
                .map(|(i, it)| (Key::num((i + 1) as f64), value(kind, it)))
                .collect(),
        ),
        Value::Map(map) => {
            let vk = match kind {
                Kind::Message(entry) => entry.map_entry_value_field().kind(),
                k => k.clone(),
            };
            Node::Table(
                map.iter()
                    .map(|(k, it)| {
                        let k = match k {
                            MapKey::String(s) => Key::Str(s.as_bytes().to_vec()),
                            MapKey::Bool(b) => Key::Bool(*b),
                            MapKey::I32(n) => Key::num(f64::from(*n)),
                            MapKey::I64(n) => Key::num(*n as f64),
                            MapKey::U32(n) => Key::num(f64::from(*n)),
                            MapKey::U64(n) => Key::num(*n as f64),
                        };
                        (k, value(&vk, it))
                    })
                    .collect(),
            )
        }
        other => value(kind, other),
    }
}

fn value(kind: &Kind, v: &Value) -> Node {
    match v {
        Value::Bool(b) => Node::Bool(*b),
        Value::I32(n) => Node::Num(f64::from(*n)),
        Value::I64(n) => Node::Num(*n as f64),
        Value::U32(n) => Node::Num(f64::from(*n)),
        Value::U64(n) => Node::Num(*n as f64),
        Value::F32(x) => Node::Num(f64::from(*x)),
        Value::F64(x) => Node::Num(*x),
        Value::String(s) => Node::Str(s.as_bytes().to_vec()),
        Value::Bytes(b) => Node::Str(b.to_vec()),
        Value::EnumNumber(n) => match kind {
            Kind::Enum(e) => match e.get_value(*n) {
                Some(ev) => Node::Str(ev.name().as_bytes().to_vec()),
                None => Node::Num(f64::from(*n)),
            },
            _ => Node::Num(f64::from(*n)),
        },
        Value::Message(m) => from_message(m),
        Value::List(_) | Value::Map(_) => field(kind, v),
    }
}
