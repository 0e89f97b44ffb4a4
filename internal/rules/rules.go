// Package rules holds a policy's CEL conditions over the request and the
// token's claims (github.com/google/cel-go): parsed and type-checked when
// the config loads, cost-bounded, and evaluated on every Check after the
// token's checks.
package rules

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/authz-dev/authz/authz"
)

// Rule is one named condition.
type Rule struct {
	Name string
	Expr string
}

// CostLimit bounds one expression's estimated worst case, checked when
// the config loads: pathological expressions (nested comprehensions over
// request data) are refused then.
const CostLimit = 100_000

// EvalTimeout bounds the evaluation of a policy's rules on one Check, for
// inputs past what the estimate assumed (a request with thousands of
// headers). A rule cut short fails (forbidden), like any rule that cannot
// be evaluated. cel-go's run-time cost tracking would bound the steps
// instead, but it costs time quadratic in a list's length; a deadline,
// checked every interruptEvery comprehension steps, costs nothing.
const EvalTimeout = 10 * time.Millisecond

const interruptEvery = 100

// sizeBound is what the cost estimate assumes of every value whose size
// CEL cannot know (header maps, claim lists, strings).
const sizeBound = 1024

// Set is a policy's compiled rules; all must hold.
type Set struct {
	rules   []program
	loops   bool
	timeout time.Duration
	// request: some rule reads the request or its peers (request,
	// source, destination, mcp), not only the token.
	request bool
	// mcp: some rule reads the JSON-RPC message in the body; every
	// message of a batch is judged, and all must pass.
	mcp bool
}

type program struct {
	name string
	prg  cel.Program
	// loops: the expression holds a comprehension, whose work grows with
	// its input; only those run under the deadline (which costs a context
	// per evaluation). Without one, the work is bounded by the expression.
	loops bool
}

// Compile parses, type-checks and cost-checks rules; an error names the rule.
func Compile(rules []Rule) (*Set, error) {
	env, err := newEnv()
	if err != nil {
		return nil, err
	}
	s := &Set{timeout: EvalTimeout}
	for _, r := range rules {
		prg, loops, err := compile(env, r.Expr)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.Name, err)
		}
		s.rules = append(s.rules, program{name: r.Name, prg: prg, loops: loops})
		s.loops = s.loops || loops
		s.request = s.request || readsAny(r.Expr, "request", "source", "destination", "mcp")
		s.mcp = s.mcp || readsAny(r.Expr, "mcp")
	}
	return s, nil
}

func newEnv() (*cel.Env, error) {
	str, dyn := cel.StringType, cel.DynType
	return cel.NewEnv(
		cel.Variable("request", cel.MapType(str, dyn)),
		cel.Variable("source", cel.MapType(str, str)),
		cel.Variable("destination", cel.MapType(str, str)),
		cel.Variable("claims", cel.MapType(str, dyn)),
		cel.Variable("token", cel.MapType(str, dyn)),
		// mcp is the JSON-RPC message in the body (mcp.go): method, tool
		// (a tools/call's params.name) and params.
		cel.Variable("mcp", cel.MapType(str, dyn)),
	)
}

func compile(env *cel.Env, expr string) (prg cel.Program, loops bool, err error) {
	ast, iss := env.Compile(expr)
	if err := iss.Err(); err != nil {
		return nil, false, err
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, false, fmt.Errorf("the expression is %s, want bool", t)
	}
	est, err := env.EstimateCost(ast, bounded{})
	if err != nil {
		return nil, false, fmt.Errorf("estimate cost: %w", err)
	}
	if est.Max > CostLimit {
		return nil, false, fmt.Errorf("the expression may cost up to %d, over the limit of %d: simplify it", est.Max, CostLimit)
	}
	loops = len(celast.MatchDescendants(celast.NavigateAST(ast.NativeRep()), celast.KindMatcher(celast.ComprehensionKind))) > 0
	prg, err = env.Program(ast, cel.InterruptCheckFrequency(interruptEvery), cel.EvalOptions(cel.OptOptimize))
	return prg, loops, err
}

// bounded gives the cost estimate a size for what it cannot know.
type bounded struct{}

func (bounded) EstimateSize(checker.AstNode) *checker.SizeEstimate {
	return &checker.SizeEstimate{Min: 0, Max: sizeBound}
}

func (bounded) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

var errNotBool = errors.New("the expression did not evaluate to a bool")

// Eval implements authz.Rules: the first rule that is false or fails.
func (s *Set) Eval(ctx context.Context, in *authz.RuleInput) (string, error) {
	if s.loops {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	if !s.mcp {
		return s.eval(ctx, activation{in: in})
	}
	msgs, err := mcpMessages(in.Request)
	if err != nil {
		return "mcp", err
	}
	for _, m := range msgs {
		if failed, err := s.eval(ctx, activation{in: in, mcp: mcpValue(m)}); failed != "" {
			return failed, err
		}
	}
	return "", nil
}

// eval runs every rule against one activation: the first that is false
// or fails.
func (s *Set) eval(ctx context.Context, act activation) (string, error) {
	for _, r := range s.rules {
		var out ref.Val
		var err error
		if r.loops {
			out, _, err = r.prg.ContextEval(ctx, act)
		} else {
			out, _, err = r.prg.Eval(act)
		}
		if err != nil {
			return r.name, err
		}
		b, ok := out.Value().(bool)
		if !ok {
			return r.name, errNotBool
		}
		if !b {
			return r.name, nil
		}
	}
	return "", nil
}
