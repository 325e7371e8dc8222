package main

import (
	"context"
	"strings"
	"testing"
)

// An unknown verb or subcommand exits non-zero with a suggestion, and a missing
// argument is named.
func TestUsageErrorsSayWhatToDo(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"invte"}, `unknown command "invte" for "tether"`},
		{[]string{"invite", "imprt"}, `unknown command "imprt" for "tether invite"; did you mean "import"`},
		{[]string{"permissions", "chek"}, `did you mean "check"?`},
		{[]string{"migrate", "down"}, `unknown command "down" for "tether migrate"; its commands are status, up`},
		{[]string{"invite", "status", "--org", "o1"}, "tether invite status: missing IMPORT_ID (usage: tether invite status IMPORT_ID"},
		{[]string{"users", "set-default-org", "u1"}, "tether users set-default-org: missing ORG"},
		{[]string{"invite", "status", "a", "b", "--org", "o1"}, "accepts 1 arg(s), received 2 (usage: tether invite status IMPORT_ID"},
		// A missing required flag is named as typed, with the command's usage.
		{[]string{"org", "create", "--name", "X"}, "tether org create: missing --seats (usage: tether org create --name N --seats S"},
		{[]string{"org", "create"}, "tether org create: missing --name and --seats (usage:"},
		// A flag's bad value says what the flag takes, not which Go parser refused it.
		{[]string{"org", "create", "--name", "X", "--seats", "abc"}, `--seats "abc": give a whole number (usage: tether org create`},
		{[]string{"org", "connect-salesforce", "o1", "--ttl", "5"}, `--ttl "5": give a duration with its unit, such as 90s, 30m or 72h`},
	} {
		res := runTether(t, context.Background(), nil, c.args...)
		if res.err != nil && strings.Contains(res.err.Error(), "strconv.") || res.err != nil && strings.Contains(res.err.Error(), "time: ") {
			t.Errorf("tether %s: error %v names a Go parser", strings.Join(c.args, " "), res.err)
		}
		if res.err == nil || !strings.Contains(res.err.Error(), c.want) {
			t.Errorf("tether %s: error %v, want it to contain %q", strings.Join(c.args, " "), res.err, c.want)
		}
	}
	// A verb that only groups subcommands, given none, still shows its help.
	if res := runTether(t, context.Background(), nil, "invite"); res.err != nil || !strings.Contains(res.stdout, "Available Commands") {
		t.Errorf("tether invite: %v, stdout %q", res.err, res.stdout)
	}
}

func TestArgNames(t *testing.T) {
	for use, want := range map[string]string{
		"status IMPORT_ID --org ORG [--wait]":                     "IMPORT_ID",
		"connect-link ORG MEMBER KIND [--ttl D]":                  "ORG MEMBER KIND",
		"resend --org ORG (INVITE_ID|EMAIL | --import IMPORT_ID)": "",
		"list [--parent ORG]":                                     "",
	} {
		if got := strings.Join(argNames(use), " "); got != want {
			t.Errorf("argNames(%q) = %q, want %q", use, got, want)
		}
	}
}
