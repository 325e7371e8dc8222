package onboarding

import (
	"bytes"
	htmltemplate "html/template"
	texttemplate "text/template"
)

type emailData struct {
	Product, OrgName, Role, Link, Expires string
	// Salesforce: a Salesforce-sourced invite. SalesforceJoin: its Join button is the
	// Salesforce sign-in (SenderConfig.ConnectSalesforce); otherwise Join accepts at once
	// and Salesforce is connected later, from a link.
	Salesforce, SalesforceJoin bool
}

var subjectTmpl = texttemplate.Must(texttemplate.New("subject").Parse(
	`You're invited to join {{.OrgName}} on {{.Product}}`))

var textTmpl = texttemplate.Must(texttemplate.New("text").Parse(`Hello,

You have been invited to join {{.OrgName}} on {{.Product}} as {{.Role}}.

Join here: {{.Link}}
{{if .SalesforceJoin}}
Joining connects your Salesforce account: the link takes you to Salesforce's sign-in, where you sign in as your own Salesforce user and allow access.
{{else if .Salesforce}}
Joining takes one click. You connect your Salesforce account afterwards, from a separate link we email you.
{{end}}
This link works until {{.Expires}}. If you did not expect this invitation, ignore this email.
`))

var htmlTmpl = htmltemplate.Must(htmltemplate.New("html").Parse(`<!doctype html>
<html><body style="font-family:sans-serif">
<p>Hello,</p>
<p>You have been invited to join <strong>{{.OrgName}}</strong> on {{.Product}} as <strong>{{.Role}}</strong>.</p>
<p><a href="{{.Link}}" style="display:inline-block;padding:10px 18px;background:#0b5cff;color:#fff;text-decoration:none;border-radius:4px">Join</a></p>
{{if .SalesforceJoin}}<p>Joining connects your Salesforce account: the button takes you to Salesforce's sign-in, where you sign in as your own Salesforce user and allow access.</p>
{{else if .Salesforce}}<p>Joining takes one click. You connect your Salesforce account afterwards, from a separate link we email you.</p>
{{end}}<p style="color:#666">This link works until {{.Expires}}. If you did not expect this invitation, ignore this email.</p>
</body></html>
`))

// buildEmail renders the invitation's subject and bodies. Templates escape the org name
// (an admin typed it) in the HTML part.
func buildEmail(d emailData) (Email, error) {
	var subj, text, html bytes.Buffer
	for _, x := range []struct {
		exec func() error
	}{
		{func() error { return subjectTmpl.Execute(&subj, d) }},
		{func() error { return textTmpl.Execute(&text, d) }},
		{func() error { return htmlTmpl.Execute(&html, d) }},
	} {
		if err := x.exec(); err != nil {
			return Email{}, err
		}
	}
	return Email{Subject: subj.String(), Text: text.String(), HTML: html.String()}, nil
}
