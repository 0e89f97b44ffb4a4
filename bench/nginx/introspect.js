// The seed's auth handler, for nginx's njs (0.7 and later): ask the IdP's
// RFC 7662 endpoint about the request's bearer token through a cached
// subrequest, and answer auth_request.
//
//   no token                     401 with a Bearer challenge
//   IdP unreachable, non-200,
//   or not JSON                  401 (the seed could not tell an outage
//                                from a bad token: authz answers 503)
//   {"active": false}            403
//   {"active": true, ...}        204, with the answer's sub, client_id and
//                                scope as X-Auth-* headers for
//                                auth_request_set

var exported = { sub: 'X-Auth-Sub', client_id: 'X-Auth-Client-Id', scope: 'X-Auth-Scope' };

function deny(r, status) {
    if (status === 401) {
        r.headersOut['WWW-Authenticate'] = 'Bearer realm="api"';
    }
    r.return(status);
}

function check(r) {
    if (!r.variables.bearer) {
        deny(r, 401);
        return;
    }
    r.subrequest('/_introspect', { method: 'POST' }, function (reply) {
        if (reply.status !== 200) {
            deny(r, 401);
            return;
        }
        var answer;
        try {
            answer = JSON.parse(reply.responseText);
        } catch (e) {
            deny(r, 401);
            return;
        }
        if (answer.active !== true) {
            deny(r, 403);
            return;
        }
        for (var claim in exported) {
            var v = answer[claim];
            if (v !== undefined && v !== null) {
                // Header values are one line: a claim cannot add a header.
                r.headersOut[exported[claim]] = String(v).replace(/[\r\n]/g, ' ');
            }
        }
        r.return(204);
    });
}

// The token as a form value, for the POST body the cache keys on.
function form(r) {
    return encodeURIComponent(r.variables.bearer || '');
}

export default { check, form };
