package policytest

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Outcome is one case as run.
type Outcome struct {
	File, Case string
	Result     Result
	Diffs      []string
	Err        error
	Took       time.Duration
}

// Failed reports whether the case did not come out as expected.
func (o Outcome) Failed() bool { return o.Err != nil || len(o.Diffs) > 0 }

// RunFiles runs every case of every file, in order.
func (r *Runner) RunFiles(paths []string) ([]Outcome, error) {
	var out []Outcome
	for _, p := range paths {
		f, err := ReadFile(p)
		if err != nil {
			return nil, err
		}
		for _, c := range f.Cases {
			start := time.Now()
			res, err := r.Check(c)
			o := Outcome{File: p, Case: c.Name, Result: res, Err: err, Took: time.Since(start)}
			if err == nil {
				o.Diffs = Differences(c, res)
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// WriteTable prints a line per case, what differed, and which routes and
// rules no case reached.
func (r *Runner) WriteTable(w io.Writer, outcomes []Outcome) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "result\tfile\tcase\toutcome\troute\tpolicy\trule\twhat differed")
	failed := 0
	for _, o := range outcomes {
		verdict, why := "ok", ""
		switch {
		case o.Err != nil:
			verdict, why = "ERROR", o.Err.Error()
		case len(o.Diffs) > 0:
			verdict, why = "FAIL", strings.Join(o.Diffs, "; ")
		}
		if o.Failed() {
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", verdict, o.File, o.Case, dash(o.Result.Outcome), dash(o.Result.Route), dash(o.Result.Policy), dash(o.Result.Rule), why)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d cases, %d failed\n", len(outcomes), failed)
	routes, rules := r.notReached(outcomes)
	if len(routes) > 0 {
		fmt.Fprintf(w, "routes no case reached: %s\n", strings.Join(routes, ", "))
	}
	if len(rules) > 0 {
		fmt.Fprintf(w, "rules no case reached: %s\n", strings.Join(rules, ", "))
	}
	return nil
}

// notReached lists the routes no case was routed by, and the rules of
// policies no case was judged by (a policy's rules all run on an allow).
func (r *Runner) notReached(outcomes []Outcome) (routes, rules []string) {
	routed, judged, refusedBy := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, o := range outcomes {
		routed[o.Result.Route] = true
		if o.Result.Outcome == "allow" {
			judged[o.Result.Policy] = true
		}
		refusedBy[o.Result.Policy+"/"+o.Result.Rule] = true
	}
	for _, rt := range r.cfg.Routes {
		if !routed[rt.Name] {
			routes = append(routes, rt.Name)
		}
	}
	for name, p := range r.cfg.Policies {
		for _, rule := range p.Rules {
			if !judged[name] && !refusedBy[name+"/"+rule.Name] {
				rules = append(rules, name+"/"+rule.Name)
			}
		}
	}
	slices.Sort(rules)
	return routes, rules
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteJUnit writes the outcomes as JUnit XML, a test suite per file, for
// CI systems that show test reports.
func WriteJUnit(path string, outcomes []Outcome) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Time      string   `xml:"time,attr"`
		Failure   *failure `xml:"failure,omitempty"`
	}
	type testsuite struct {
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	var suites []*testsuite
	byFile := map[string]*testsuite{}
	for _, o := range outcomes {
		s := byFile[o.File]
		if s == nil {
			s = &testsuite{Name: o.File}
			byFile[o.File] = s
			suites = append(suites, s)
		}
		tc := testcase{Name: o.Case, Classname: o.File, Time: fmt.Sprintf("%.3f", o.Took.Seconds())}
		if o.Failed() {
			msg := strings.Join(o.Diffs, "; ")
			if o.Err != nil {
				msg = o.Err.Error()
			}
			tc.Failure = &failure{Message: msg, Text: msg}
			s.Failures++
		}
		s.Tests++
		s.Cases = append(s.Cases, tc)
	}
	b, err := xml.MarshalIndent(struct {
		XMLName xml.Name     `xml:"testsuites"`
		Suites  []*testsuite `xml:"testsuite"`
	}{Suites: suites}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte(xml.Header), append(b, '\n')...), 0o644)
}
