// Package permissions audits the team-level Salesforce account: it checks that the account
// has every permission tether needs and reports each check with a fix.
//
// types.go holds the report as stored; persistence lives in tether/sync/store.
package permissions
