//! Targets in other accounts: which role the gateway assumes in each, from the policy's `[[account_roles]]`.
//!
//! Step Functions executions and durable executions take no resource policies, so the gateway's own role can
//! act only in its own account; elsewhere it assumes the role the policy names. An account no entry covers is
//! refused before any call. Pure: no SDK, no serde.

use super::aws_ids::AccountId;

/// The placeholder a role pattern for every account uses for the account id.
pub const ACCOUNT_PLACEHOLDER: &str = "{account}";

/// Which accounts an entry covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounts {
    /// These accounts.
    Exact(Vec<AccountId>),
    /// Every account (the role ARN names `{account}`).
    Any,
}

/// One `[[account_roles]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRoleRule {
    /// Which accounts.
    pub accounts: Accounts,
    /// The role ARN, possibly with [`ACCOUNT_PLACEHOLDER`].
    pub role: String,
    /// The external id the role's trust policy asks for.
    pub external_id: Option<String>,
}

/// The role to assume in one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountRole {
    /// The role's ARN.
    pub role_arn: String,
    /// The external id, if the role's trust policy asks for one.
    pub external_id: Option<String>,
}

/// How the gateway reaches one target account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The function's own account: its own credentials.
    Own,
    /// Another account, through this role.
    Assume(AccountRole),
    /// Another account that no entry covers: refused before any call.
    NotConfigured,
}

/// The policy's roles per account, first matching entry wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountRoles {
    /// The entries, in document order.
    pub rules: Vec<AccountRoleRule>,
}

impl AccountRoles {
    /// How to reach `target` from a function running in `home` (`None` when the function's own account is not
    /// known, outside Lambda: then every account needs an entry).
    pub fn access(&self, home: Option<&AccountId>, target: &AccountId) -> Access {
        if home == Some(target) {
            return Access::Own;
        }
        let covering = self.rules.iter().find(|r| match &r.accounts {
            Accounts::Exact(list) => list.contains(target),
            Accounts::Any => true,
        });
        match covering {
            Some(rule) => Access::Assume(AccountRole {
                role_arn: rule.role.replace(ACCOUNT_PLACEHOLDER, target.as_str()),
                external_id: rule.external_id.clone(),
            }),
            None => Access::NotConfigured,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str) -> AccountId {
        AccountId::parse(id).unwrap()
    }

    #[test]
    fn own_account_uses_own_credentials_others_their_role_or_nothing() {
        let roles = AccountRoles {
            rules: vec![
                AccountRoleRule {
                    accounts: Accounts::Exact(vec![account("222233334444")]),
                    role: "arn:aws:iam::222233334444:role/special".into(),
                    external_id: Some("ext-1".into()),
                },
                AccountRoleRule {
                    accounts: Accounts::Any,
                    role: "arn:aws:iam::{account}:role/stop-gateway-target".into(),
                    external_id: None,
                },
            ],
        };
        let home = account("111122223333");
        assert_eq!(roles.access(Some(&home), &home), Access::Own);
        assert_eq!(
            roles.access(Some(&home), &account("222233334444")),
            Access::Assume(AccountRole {
                role_arn: "arn:aws:iam::222233334444:role/special".into(),
                external_id: Some("ext-1".into())
            })
        );
        let Access::Assume(role) = roles.access(Some(&home), &account("555566667777")) else { panic!() };
        assert_eq!(role.role_arn, "arn:aws:iam::555566667777:role/stop-gateway-target");
        let none = AccountRoles::default();
        assert_eq!(none.access(Some(&home), &account("222233334444")), Access::NotConfigured);
        assert_eq!(none.access(None, &home), Access::NotConfigured, "unknown home: every account needs an entry");
    }
}
