package oauth

import "tether/sync/connections"

// KillsOldToken implements connections.RotationRules: the provider serving kind retires
// the old refresh token when it rotates (its Rotation rule), so a refresh whose answer was
// lost may have consumed the grant; the next attempt settles it.
func (r ConnectionRefresher) KillsOldToken(kind connections.Kind) bool {
	name, ok := r.Providers[kind]
	if !ok {
		return false
	}
	p, ok := r.Client.Provider(name)
	return ok && p.rotation() == RotationKillsOld
}
