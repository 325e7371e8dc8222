package jobs

// Types is the catalogue: every task type tether defines. The worker registers a handler
// for each of them, always, and refuses to start otherwise, so no task of a defined type
// is ever archived as "no handler".
func Types() []string {
	return []string{
		TypeEventsPrune,
		TypeInvitesSend,
		TypeInvitesImport,
		TypeInvitesImportEmails,
		TypeAuditPermissions,
		TypeAuditPermissionsSweep,
		TypeInvitesExpire,
		TypeReconcile,
		TypeConnectionRefresh,
		TypeConnectionVerify,
		TypeConnectionsSweep,
		TypeMembersDeactivate,
		TypeRemindersNotify,
		TypeRemindersDigest,
	}
}
