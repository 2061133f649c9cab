package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"
)

// Principal is the caller as API Gateway's JWT authorizer saw it: the token's
// subject, the organisation of a machine client, and the granted scopes.
type Principal struct {
	Subject string
	Org     string
	Scopes  []string
}

// HasScope reports whether the principal was granted scope.
func (p Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

// PrincipalFrom reads the caller from the authorizer's claims in the request's
// API Gateway context. ok is false when the request carries no subject.
func PrincipalFrom(r *http.Request) (p Principal, ok bool) {
	gw, found := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !found || gw.Authorizer == nil || gw.Authorizer.JWT == nil {
		return Principal{}, false
	}
	claims := gw.Authorizer.JWT.Claims
	p = Principal{Subject: claims["sub"], Org: claims["org"]}
	raw := strings.Fields(claims["scope"])
	if len(raw) == 0 {
		raw = strings.Fields(claims["scp"])
	}
	for _, s := range append(raw, gw.Authorizer.JWT.Scopes...) {
		p.Scopes = append(p.Scopes, strings.TrimPrefix(s, ResourceServer+"/"))
	}
	return p, p.Subject != ""
}

// ResourceServer is the identifier of the template's Cognito resource
// server: Cognito names its scopes "citycode/resident", other identity
// providers (and scripts/devtoken) plain "resident". Routes accept both
// forms (template.yaml lists each scope twice) and the functions see the
// plain one.
const ResourceServer = "citycode"

// RequireScope wraps h so that only principals holding scope reach it. API
// Gateway already enforces route scopes; this guards against a template slip.
func RequireScope(scope string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r)
		if !ok {
			WriteProblem(w, r, NewError(http.StatusUnauthorized, "unauthorized", "a valid bearer token is required"))
			return
		}
		if !p.HasScope(scope) {
			WriteProblem(w, r, NewError(http.StatusForbidden, "forbidden", "the token lacks the scope "+scope))
			return
		}
		h.ServeHTTP(w, r)
	})
}
