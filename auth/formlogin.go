package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Authorizer takes an authorization request to the point where the IDP
// redirects back to the client. It is the replaceable step of grant form:
// everything before it (PKCE, state) and after it (checks, code exchange)
// is the same whoever signs in.
type Authorizer interface {
	// Authorize visits authURL, the authorization request, and returns the
	// URL the IDP redirected to: redirectURL with code and state, or with
	// error and error_description. It must not fetch redirectURL itself.
	Authorize(ctx context.Context, authURL, redirectURL string) (*url.URL, error)
}

// FormLogin is the Authorizer that signs in the way a person with a plain
// browser would, without running any script. With a fresh cookie jar it
// fetches the authorization URL, follows redirects and, on each HTML page,
// submits one form:
//
//   - a login form (one password field): the username goes into the text or
//     email field that looks most like one (autocomplete=username, names
//     such as user, login, email), the password into the password field;
//   - an identifier-first page (a username field, no password field):
//     the username alone, the password on the next page;
//   - a page to confirm, such as a consent page or a page that posts
//     itself on: a POST form with nothing to type in, submitted with the
//     button that looks like an approval (allow, accept, continue).
//
// Hidden fields (anti-forgery tokens) and other default values are sent as
// the page has them; the form's action is resolved against the page URL.
// It stops at the redirect to redirectURL, also when the IDP posts the
// answer there in a form (response_mode=form_post).
//
// It cannot sign in where the login page is built by script, or asks for
// more than a username and password: multi-factor prompts, CAPTCHAs,
// external identity providers to choose from. A login page shown again
// after the password was sent is reported as ErrLoginFailed with the
// page's own message.
type FormLogin struct {
	// HTTPClient supplies the transport and timeout; FormLogin uses its own
	// cookie jar and redirect policy.
	HTTPClient *http.Client
	// Username is the user that signs in.
	Username string
	// Password is read at every sign-in.
	Password SecretRef
	// MaxPages bounds the pages submitted in one sign-in; zero means 5.
	MaxPages int
	// Logger receives one debug line per page, never a field's value.
	Logger *slog.Logger
}

// maxPageSize bounds how much of a page is read.
const maxPageSize = 2 << 20

// Authorize signs in and returns the redirect to redirectURL.
func (f *FormLogin) Authorize(ctx context.Context, authURL, redirectURL string) (*url.URL, error) {
	log := f.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	redirect, err := url.Parse(redirectURL)
	if err != nil {
		return nil, fmt.Errorf("redirect URL: %w", err)
	}
	password, err := f.Password.Read()
	if err != nil {
		return nil, err
	}
	maxPages := f.MaxPages
	if maxPages <= 0 {
		maxPages = 5
	}

	client := f.browser(redirect)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return nil, fmt.Errorf("authorization request: %w", redactURLError(err))
	}
	resp, err := send(client, req)
	if err != nil {
		return nil, err
	}

	s := &signIn{username: f.Username, password: password}
	for pages := 0; ; pages++ {
		if callback := redirectedTo(resp, redirect); callback != nil {
			drainClose(resp.Body)
			return callback, nil
		}
		p, err := readPage(resp)
		if err != nil {
			return nil, err
		}
		if pages == maxPages {
			return nil, fmt.Errorf("sign-in did not reach the redirect URL after %d pages; last page %s",
				maxPages, p.where())
		}

		form, values, step, err := s.fill(p)
		if err != nil {
			return nil, err
		}
		log.Debug("submitting a form of the IDP's login page", "page", p.where(), "status", p.status,
			"step", step, "fields", len(values))

		target, err := form.target(p.url)
		if err != nil {
			return nil, err
		}
		if sameEndpoint(target, redirect) {
			// The IDP hands the answer over in a self-posting form.
			return withQuery(target, values), nil
		}
		if resp, err = send(client, form.request(ctx, target, values)); err != nil {
			return nil, err
		}
	}
}

// browser returns a client with its own cookies that stops at the redirect
// URL instead of fetching it.
func (f *FormLogin) browser(redirect *url.URL) *http.Client {
	jar, _ := cookiejar.New(nil) // never fails without options
	client := &http.Client{Jar: jar}
	if f.HTTPClient != nil {
		client.Transport = f.HTTPClient.Transport
		client.Timeout = f.HTTPClient.Timeout
	}
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if sameEndpoint(req.URL, redirect) {
			return http.ErrUseLastResponse
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return client
}

func send(client *http.Client, req *http.Request) (*http.Response, error) {
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sign-in request: %w", redactURLError(err))
	}
	return resp, nil
}

// redirectedTo returns the Location of resp when it is a redirect to the
// redirect URL.
func redirectedTo(resp *http.Response, redirect *url.URL) *url.URL {
	if resp.StatusCode < 300 || resp.StatusCode > 399 {
		return nil
	}
	loc, err := resp.Location()
	if err != nil || !sameEndpoint(loc, redirect) {
		return nil
	}
	return loc
}

// sameEndpoint reports whether u addresses the redirect URL: same scheme,
// host, port and path; the query does not count.
func sameEndpoint(u, redirect *url.URL) bool {
	return strings.EqualFold(u.Scheme, redirect.Scheme) &&
		strings.EqualFold(u.Hostname(), redirect.Hostname()) &&
		portOf(u) == portOf(redirect) &&
		strings.TrimSuffix(u.Path, "/") == strings.TrimSuffix(redirect.Path, "/")
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

func withQuery(u *url.URL, values url.Values) *url.URL {
	out := *u
	out.RawQuery = values.Encode()
	return &out
}

// page is one HTML page of the sign-in.
type page struct {
	url    *url.URL
	status int
	forms  []*htmlForm
	alert  string // the page's error message, if it shows one
}

// where names the page without its query, which may hold request data.
func (p *page) where() string { return redactURL(p.url.String()) }

func readPage(resp *http.Response) (*page, error) {
	defer drainClose(resp.Body)
	p := &page{url: resp.Request.URL, status: resp.StatusCode}

	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mediaType != "" && !strings.Contains(mediaType, "html") {
		return nil, fmt.Errorf("sign-in: the IDP answered HTTP %d with %s at %s, not a page",
			resp.StatusCode, mediaType, p.where())
	}
	doc, err := html.Parse(io.LimitReader(resp.Body, maxPageSize))
	if err != nil {
		return nil, fmt.Errorf("sign-in: read the page at %s: %w", p.where(), err)
	}
	p.forms = findForms(doc)
	p.alert = findAlert(doc)
	return p, nil
}

// signIn is the state of one sign-in across pages.
type signIn struct {
	username     string
	password     Secret
	sentUsername bool
	sentPassword bool
}

// fill picks the form to submit on p and returns its values and the kind
// of step it is.
func (s *signIn) fill(p *page) (*htmlForm, url.Values, string, error) {
	if form := p.loginForm(); form != nil {
		if s.sentPassword {
			return nil, nil, "", s.failed(p, "the login page came back after the password was sent")
		}
		values := form.values(false)
		if user := form.usernameField(); user != nil {
			values.Set(user.name, s.username)
		}
		values.Set(form.passwordField().name, s.password.Reveal())
		s.sentPassword = true
		return form, values, "login", nil
	}
	if form := p.identifierForm(); form != nil {
		if s.sentUsername {
			return nil, nil, "", s.failed(p, "the IDP asked for the username again")
		}
		values := form.values(false)
		values.Set(form.usernameField().name, s.username)
		s.sentUsername = true
		return form, values, "username", nil
	}
	if form := p.confirmForm(); form != nil {
		return form, form.values(true), "confirm", nil
	}

	msg := fmt.Sprintf("sign-in: no login form on %s (HTTP %d)", p.where(), p.status)
	if p.alert != "" {
		msg += ": " + s.scrub(p.alert)
	}
	return nil, nil, "", fmt.Errorf("%s; pages that need JavaScript, multi-factor prompts "+
		"and CAPTCHAs cannot be signed in unattended", msg)
}

func (s *signIn) failed(p *page, what string) error {
	msg := what
	if p.alert != "" {
		msg = s.scrub(p.alert)
	}
	return fmt.Errorf("%w: login page %s: %s", ErrLoginFailed, p.where(), msg)
}

// scrub removes the password from text the IDP showed, in case the page
// repeats it.
func (s *signIn) scrub(text string) string {
	return scrub(text, []string{s.password.Reveal()})
}

// htmlForm is a form of a page with its controls in document order.
type htmlForm struct {
	action, method string
	controls       []control
}

// control is one input, select, textarea or button of a form.
type control struct {
	tag          atom.Atom
	typ          string // lower case; for buttons "submit" unless set
	name, value  string
	id           string
	autocomplete string
	checked      bool
	disabled     bool
}

func (c *control) textLike() bool {
	return c.tag == atom.Input && (c.typ == "" || c.typ == "text" || c.typ == "email")
}

func (c *control) submitter() bool {
	return (c.tag == atom.Input && (c.typ == "submit" || c.typ == "image")) ||
		(c.tag == atom.Button && c.typ == "submit")
}

// usernameLikeness rates how much a control looks like a username field:
// 3 by autocomplete, 2 by name or id, 1 for any other text field.
func (c *control) usernameLikeness() int {
	if !c.textLike() || c.name == "" || c.disabled {
		return 0
	}
	ac := strings.ToLower(c.autocomplete)
	if strings.Contains(ac, "username") || strings.Contains(ac, "email") {
		return 3
	}
	key := strings.ToLower(c.name + " " + c.id)
	for _, word := range []string{"user", "login", "mail", "account", "identifier", "principal"} {
		if strings.Contains(key, word) {
			return 2
		}
	}
	return 1
}

func (p *page) loginForm() *htmlForm {
	for _, f := range p.forms {
		if f.count(func(c *control) bool { return c.typ == "password" && c.tag == atom.Input }) == 1 {
			return f
		}
	}
	return nil
}

// identifierForm returns a form whose only field to type in is a username.
func (p *page) identifierForm() *htmlForm {
	for _, f := range p.forms {
		user := f.usernameField()
		if user != nil && user.usernameLikeness() >= 2 && f.count((*control).textLike) == 1 {
			return f
		}
	}
	return nil
}

// confirmForm returns a POST form with nothing to type in.
func (p *page) confirmForm() *htmlForm {
	for _, f := range p.forms {
		typed := f.count(func(c *control) bool {
			return c.textLike() || c.typ == "password" || c.tag == atom.Textarea
		})
		if typed == 0 && f.method == http.MethodPost {
			return f
		}
	}
	return nil
}

func (f *htmlForm) count(match func(*control) bool) int {
	n := 0
	for i := range f.controls {
		if match(&f.controls[i]) {
			n++
		}
	}
	return n
}

func (f *htmlForm) passwordField() *control {
	for i := range f.controls {
		if c := &f.controls[i]; c.tag == atom.Input && c.typ == "password" {
			return c
		}
	}
	return nil
}

// usernameField returns the text field most like a username, the first
// of equals.
func (f *htmlForm) usernameField() *control {
	var best *control
	for i := range f.controls {
		c := &f.controls[i]
		if c.usernameLikeness() > 0 && (best == nil || c.usernameLikeness() > best.usernameLikeness()) {
			best = c
		}
	}
	return best
}

// values returns what submitting the form sends unchanged: hidden fields,
// prefilled fields, checked boxes, selected options, and the submit button
// chosen (preferring one that approves when approve is set, and avoiding
// one that cancels).
func (f *htmlForm) values(approve bool) url.Values {
	values := url.Values{}
	for i := range f.controls {
		c := &f.controls[i]
		if c.name == "" || c.disabled || c.submitter() {
			continue
		}
		switch c.typ {
		case "checkbox", "radio":
			if c.checked {
				values.Add(c.name, c.value)
			}
		case "button", "reset", "file":
		default:
			values.Add(c.name, c.value)
		}
	}

	if b := f.submitButton(approve); b != nil && b.name != "" {
		if b.typ == "image" {
			values.Add(b.name+".x", "0")
			values.Add(b.name+".y", "0")
		} else {
			values.Add(b.name, b.value)
		}
	}
	return values
}

func (f *htmlForm) submitButton(approve bool) *control {
	var first, notCancel *control
	for i := range f.controls {
		c := &f.controls[i]
		if !c.submitter() || c.disabled {
			continue
		}
		label := strings.ToLower(c.name + " " + c.value + " " + c.id)
		if approve && containsAny(label, "allow", "accept", "approve", "consent", "continue",
			"confirm", "grant", "authorize", "yes") {
			return c
		}
		if first == nil {
			first = c
		}
		if notCancel == nil && !containsAny(label, "cancel", "deny", "reject", "decline", "back") {
			notCancel = c
		}
	}
	if notCancel != nil {
		return notCancel
	}
	return first
}

func containsAny(s string, words ...string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// target resolves the form's action against the page URL; an empty action
// is the page itself.
func (f *htmlForm) target(base *url.URL) (*url.URL, error) {
	u, err := base.Parse(strings.TrimSpace(f.action))
	if err != nil {
		return nil, fmt.Errorf("sign-in: form action on %s: %w", redactURL(base.String()), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("sign-in: form on %s posts to a %s URL", redactURL(base.String()), u.Scheme)
	}
	return u, nil
}

func (f *htmlForm) request(ctx context.Context, target *url.URL, values url.Values) *http.Request {
	if f.method == http.MethodGet {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, withQuery(target, values).String(), nil)
		return req
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, target.String(),
		strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// As a browser does, so that origin checks against forged posts pass.
	req.Header.Set("Origin", (&url.URL{Scheme: target.Scheme, Host: target.Host}).String())
	return req
}

// findForms returns the forms of a page with their controls. Controls
// outside a form element (tied to one by a form attribute) are not seen.
func findForms(doc *html.Node) []*htmlForm {
	var forms []*htmlForm
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode || n.DataAtom != atom.Form {
			continue
		}
		f := &htmlForm{action: attr(n, "action"), method: http.MethodGet}
		if strings.EqualFold(attr(n, "method"), "post") {
			f.method = http.MethodPost
		}
		for c := range n.Descendants() {
			if ctl, ok := controlOf(c); ok {
				f.controls = append(f.controls, ctl)
			}
		}
		forms = append(forms, f)
	}
	return forms
}

func controlOf(n *html.Node) (control, bool) {
	if n.Type != html.ElementNode {
		return control{}, false
	}
	c := control{
		tag:          n.DataAtom,
		typ:          strings.ToLower(strings.TrimSpace(attr(n, "type"))),
		name:         attr(n, "name"),
		value:        attr(n, "value"),
		id:           attr(n, "id"),
		autocomplete: attr(n, "autocomplete"),
		checked:      hasAttr(n, "checked"),
		disabled:     hasAttr(n, "disabled"),
	}
	switch n.DataAtom {
	case atom.Input:
		if (c.typ == "checkbox" || c.typ == "radio") && !hasAttr(n, "value") {
			c.value = "on"
		}
	case atom.Button:
		if c.typ == "" {
			c.typ = "submit"
		}
	case atom.Textarea:
		c.value = textOf(n)
	case atom.Select:
		c.value = selectedOption(n)
	default:
		return control{}, false
	}
	return c, true
}

// selectedOption returns the value of the selected option, or of the
// first one when none is marked.
func selectedOption(sel *html.Node) string {
	var first *html.Node
	for n := range sel.Descendants() {
		if n.Type != html.ElementNode || n.DataAtom != atom.Option {
			continue
		}
		if first == nil {
			first = n
		}
		if hasAttr(n, "selected") {
			return optionValue(n)
		}
	}
	if first == nil {
		return ""
	}
	return optionValue(first)
}

func optionValue(n *html.Node) string {
	if hasAttr(n, "value") {
		return attr(n, "value")
	}
	return strings.TrimSpace(textOf(n))
}

// findAlert returns the text of the first element that looks like an
// error message: role=alert, or a class naming an error or alert.
func findAlert(doc *html.Node) string {
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		class := strings.ToLower(attr(n, "class"))
		if attr(n, "role") != "alert" && !containsAny(class, "error", "alert", "danger", "invalid") {
			continue
		}
		if text := strings.Join(strings.Fields(textOf(n)), " "); text != "" {
			return text
		}
	}
	return ""
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return true
		}
	}
	return false
}

func textOf(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}
