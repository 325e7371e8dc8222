// Package members is what an org's admin sees and does about its members: Action Required
// (the org's per-role policy applied to each member's connections and photo, materialised
// on the membership so the members page counts with one query), the members list with its
// counts per filter, and deactivation (revoke at each provider, drop the tokens, cancel the
// member's scheduled tasks, free the seat).
//
// Service implements connections.Observer: upkeep calls ConnectionChanged after every
// committed connection state change, the connect flow after a connect.
package members
