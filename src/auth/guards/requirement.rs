//! A requirement over names (permissions or roles): one name, all of several
//! requirements, or any of them, nested as deep as a route needs.

use std::fmt::{self, Write as _};

use super::GuardError;

/// What a route needs: one name, every one of several requirements, or at
/// least one of them. Build it with [`all_of`], [`any_of`] and `From<&str>`;
/// [`RequireScopes`](super::RequireScopes) checks it against the token's
/// `scope` and `permissions` (RFC 6749 §3.3, Auth0 RBAC), and
/// [`RequireRoles`](super::RequireRoles) against a roles claim.
///
/// A requirement is checked when the guard is built: an empty group is a
/// [`GuardError::Empty`], never "allow all".
///
/// ```
/// use auth0_actix_api::auth::guards::{all_of, any_of, Requirement};
///
/// // (read:messages or read:all) and write:messages
/// let needs = all_of([any_of(["read:messages", "read:all"]), "write:messages".into()]);
/// let granted = ["read:all", "write:messages"];
/// assert!(needs.is_met_by(|name| granted.contains(&name)));
/// assert!(!needs.is_met_by(|name| name == "read:all"));
/// assert_eq!(needs.to_string(), "(read:messages or read:all) and write:messages");
/// assert_eq!(needs.names().collect::<Vec<_>>(), ["read:messages", "read:all", "write:messages"]);
/// # let _: Requirement = needs;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// This one name.
    One(String),
    /// Every nested requirement.
    All(Vec<Requirement>),
    /// At least one nested requirement.
    Any(Vec<Requirement>),
}

/// A requirement met when every one of `requirements` is.
pub fn all_of<I, R>(requirements: I) -> Requirement
where
    I: IntoIterator<Item = R>,
    R: Into<Requirement>,
{
    Requirement::All(requirements.into_iter().map(Into::into).collect())
}

/// A requirement met when at least one of `requirements` is.
pub fn any_of<I, R>(requirements: I) -> Requirement
where
    I: IntoIterator<Item = R>,
    R: Into<Requirement>,
{
    Requirement::Any(requirements.into_iter().map(Into::into).collect())
}

impl From<&str> for Requirement {
    fn from(name: &str) -> Self {
        Self::One(name.to_owned())
    }
}

impl From<String> for Requirement {
    fn from(name: String) -> Self {
        Self::One(name)
    }
}

impl From<&String> for Requirement {
    fn from(name: &String) -> Self {
        Self::One(name.clone())
    }
}

impl Requirement {
    /// Every one of `names`, each a name of its own: what
    /// `RequireScopes::all` and `RequireRoles::all` take. Unlike [`all_of`]
    /// it takes anything that becomes a `String`, as those do.
    pub(super) fn all_names<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Self {
        Self::All(names.into_iter().map(|n| Self::One(n.into())).collect())
    }

    /// At least one of `names`, as [`Self::all_names`].
    pub(super) fn any_names<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Self {
        Self::Any(names.into_iter().map(|n| Self::One(n.into())).collect())
    }

    /// Whether the requirement holds when `has` says which names were
    /// granted. Walks the tree without allocating, so a guard costs nothing
    /// on the heap when it lets a request through.
    pub fn is_met_by(&self, has: impl Fn(&str) -> bool + Copy) -> bool {
        match self {
            Self::One(name) => has(name),
            Self::All(all) => all.iter().all(|r| r.is_met_by(has)),
            Self::Any(any) => any.iter().any(|r| r.is_met_by(has)),
        }
    }

    /// Every name the requirement mentions, depth first, each once, in the
    /// order it first appears.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let mut seen: Vec<&str> = Vec::new();
        self.collect(&mut seen);
        seen.into_iter()
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Self::One(name) => {
                if !out.contains(&name.as_str()) {
                    out.push(name);
                }
            }
            Self::All(group) | Self::Any(group) => group.iter().for_each(|r| r.collect(out)),
        }
    }

    /// Checks the requirement can be enforced as written: no group is empty
    /// (an empty "all" holds for every token) and every name passes `valid`;
    /// `invalid` builds the error for one that does not.
    pub(crate) fn check(
        &self,
        valid: fn(&str) -> bool,
        invalid: fn(String) -> GuardError,
    ) -> Result<(), GuardError> {
        match self {
            Self::One(name) if valid(name) => Ok(()),
            Self::One(name) => Err(invalid(name.clone())),
            Self::All(group) | Self::Any(group) if group.is_empty() => Err(GuardError::Empty),
            Self::All(group) | Self::Any(group) => {
                group.iter().try_for_each(|r| r.check(valid, invalid))
            }
        }
    }

    /// A group of one is the requirement it holds; written and rendered
    /// without the group, `all_of(["a"])` reads as plain `a`.
    fn simplest(&self) -> &Self {
        match self {
            Self::All(group) | Self::Any(group) if group.len() == 1 => {
                group.first().map_or(self, Self::simplest)
            }
            _ => self,
        }
    }
}

/// The requirement in words, for error descriptions: `a and b`, `a or b`,
/// with nested groups in parentheses: `(a or b) and c`.
impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (group, joiner) = match self.simplest() {
            Self::One(name) => return f.write_str(name),
            Self::All(group) => (group, " and "),
            Self::Any(group) => (group, " or "),
        };
        for (i, requirement) in group.iter().enumerate() {
            if i > 0 {
                f.write_str(joiner)?;
            }
            match requirement.simplest() {
                Self::One(name) => f.write_str(name)?,
                nested => {
                    f.write_char('(')?;
                    fmt::Display::fmt(nested, f)?;
                    f.write_char(')')?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted<'a>(names: &'a [&'a str]) -> impl Fn(&str) -> bool + Copy + 'a {
        move |name| names.contains(&name)
    }

    #[test]
    fn nested_requirements_hold_exactly_when_their_structure_says() {
        let needs = all_of([any_of(["a", "b"]), "c".into()]);
        let cases: [(&[&str], bool); 6] = [
            (&["a", "c"], true),
            (&["b", "c"], true),
            (&["a", "b", "c"], true),
            (&["a", "b"], false),
            (&["c"], false),
            (&[], false),
        ];
        for (names, expected) in cases {
            assert_eq!(needs.is_met_by(granted(names)), expected, "{names:?}");
        }
        let either = any_of([all_of(["a", "b"]), "c".into()]);
        assert!(either.is_met_by(granted(&["c"])), "c alone");
        assert!(either.is_met_by(granted(&["a", "b"])), "a and b");
        assert!(!either.is_met_by(granted(&["a"])), "a alone");
    }

    #[test]
    fn the_words_follow_the_structure() {
        let cases = [
            (Requirement::from("a"), "a"),
            (all_of(["a"]), "a"),
            (all_of(["a", "b"]), "a and b"),
            (any_of(["a", "b"]), "a or b"),
            (all_of([any_of(["a", "b"]), "c".into()]), "(a or b) and c"),
            (
                any_of([all_of(["a", "b"]), all_of(["c"]), "d".into()]),
                "(a and b) or c or d",
            ),
        ];
        for (requirement, words) in cases {
            assert_eq!(requirement.to_string(), words, "{requirement:?}");
        }
    }

    #[test]
    fn names_are_listed_once_in_order_of_appearance() {
        let needs = all_of([any_of(["b", "a"]), all_of(["a", "c", "b"])]);
        assert_eq!(needs.names().collect::<Vec<_>>(), ["b", "a", "c"]);
    }

    #[test]
    fn an_empty_group_anywhere_cannot_be_enforced() {
        let valid = |name: &str| !name.is_empty();
        let none: [&str; 0] = [];
        for requirement in [
            all_of(none),
            any_of(none),
            all_of([any_of(none), "a".into()]),
            any_of(["a".into(), all_of(none)]),
        ] {
            assert_eq!(
                requirement.check(valid, GuardError::InvalidPermission),
                Err(GuardError::Empty),
                "{requirement:?}"
            );
        }
        assert_eq!(
            all_of(["a", ""]).check(valid, GuardError::InvalidPermission),
            Err(GuardError::InvalidPermission(String::new()))
        );
        assert_eq!(
            all_of([any_of(["a", "b"])]).check(valid, GuardError::InvalidPermission),
            Ok(())
        );
    }
}
