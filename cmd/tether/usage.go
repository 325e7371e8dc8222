package main

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// polishUsage makes every command of the tree fail the way a person can act on: a verb
// with subcommands refuses an unknown one (non-zero, with cobra's suggestions) instead
// of printing its help and exiting 0, and a missing argument is named as the command's
// Use line names it (IMPORT_ID). Call it once the tree is complete.
func polishUsage(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.SuggestionsMinimumDistance = 2 // cobra reads it per command; zero suggests nothing
		if c != root && c.HasSubCommands() && !c.Runnable() {
			c.Args = cobra.ArbitraryArgs
			c.RunE = unknownSubcommand
		}
		if orig := c.Args; orig != nil {
			c.Args = func(cmd *cobra.Command, args []string) error {
				err := orig(cmd, args)
				if err == nil {
					return nil
				}
				if names := argNames(cmd.Use); len(args) < len(names) {
					return fmt.Errorf("%s: missing %s (usage: %s)", cmd.CommandPath(), names[len(args)], cmd.UseLine())
				}
				return fmt.Errorf("%s: %w (usage: %s)", cmd.CommandPath(), err, cmd.UseLine())
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	root.SetFlagErrorFunc(flagError) // inherited by every subcommand
}

// flagError rewrites pflag's "invalid argument" error, whose tail is a Go parser's
// ("strconv.ParseInt: parsing \"abc\": invalid syntax"), into what the flag takes.
func flagError(c *cobra.Command, err error) error {
	var bad *pflag.InvalidValueError
	if !errors.As(err, &bad) {
		return err
	}
	f := bad.GetFlag()
	want := map[string]string{
		"int": "a whole number", "int64": "a whole number", "uint": "a whole number",
		"float64":  "a number",
		"duration": "a duration with its unit, such as 90s, 30m or 72h",
		"bool":     "true or false",
	}[f.Value.Type()]
	if want == "" {
		return err
	}
	return fmt.Errorf("--%s %q: give %s (usage: %s)", f.Name, bad.GetValue(), want, c.UseLine())
}

// unknownSubcommand is the RunE of a verb that only groups subcommands.
func unknownSubcommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return c.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += `; did you mean "` + strings.Join(s, `" or "`) + `"?`
	} else {
		var subs []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				subs = append(subs, sub.Name())
			}
		}
		msg += "; its commands are " + strings.Join(subs, ", ")
	}
	return errors.New(msg)
}

// argNames are the positional argument names of a Use line ("status IMPORT_ID --org ORG
// [--wait]" names IMPORT_ID): upper-case words that are not a flag's value, up to the
// first optional or alternative group.
func argNames(use string) []string {
	var names []string
	fields := strings.Fields(use)
	flagValue := false
	for _, f := range fields[min(1, len(fields)):] {
		switch {
		case strings.HasPrefix(f, "[") || strings.HasPrefix(f, "("):
			return names
		case strings.HasPrefix(f, "-"):
			flagValue = !strings.Contains(f, "=")
		case flagValue:
			flagValue = false
		case isArgName(f):
			names = append(names, f)
		}
	}
	return names
}

func isArgName(s string) bool {
	for _, r := range s {
		if !unicode.IsUpper(r) && r != '_' && !unicode.IsDigit(r) {
			return false
		}
	}
	return s != ""
}
