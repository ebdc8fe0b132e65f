package vault

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/opensiterecovery/osr/internal/vault/db"
)

// Role is what a user may do.
type Role string

// Roles, from most to least powerful. Operator may run failovers (and read); reader only reads.
const (
	RoleOwner       Role = "owner"
	RoleContributor Role = "contributor"
	RoleOperator    Role = "operator"
	RoleReader      Role = "reader"
)

func parseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleOwner, RoleContributor, RoleOperator, RoleReader:
		return r, nil
	}
	return "", badRequest("role %q is not known (owner, contributor, operator or reader)", s)
}

// perm is what a route needs.
type perm int

const (
	permPublic       perm = iota // no credentials (health, registration by key, login)
	permRead                     // any role
	permSelf                     // any role, acting on its own tokens
	permFailover                 // owner, contributor, operator
	permWrite                    // owner, contributor
	permOwner                    // owner: users and other users' tokens
	permConfigServer             // a registered configuration server, by client certificate
)

func (r Role) allows(p perm) bool {
	switch p {
	case permRead, permSelf:
		return r != ""
	case permFailover:
		return r == RoleOwner || r == RoleContributor || r == RoleOperator
	case permWrite:
		return r == RoleOwner || r == RoleContributor
	case permOwner:
		return r == RoleOwner
	}
	return false
}

// User is an account of the API and portal.
type User struct {
	Name        string    `json:"name"`
	Role        Role      `json:"role"`
	HasPassword bool      `json:"has_password"`
	Created     time.Time `json:"created"`
}

// Argon2id parameters for passwords: OWASP's 19 MiB, 2 passes, one lane.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
)

func hashPassword(pw string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	h := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", argonMemory, argonTime, argonThreads, enc.EncodeToString(salt), enc.EncodeToString(h))
}

func checkPassword(encoded, pw string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m > 1<<20 || t > 16 || p == 0 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// AddUserRequest is the body of POST /users.
type AddUserRequest struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"` // optional: without one the user signs in with tokens only
}

// AddUser creates a user.
func (s *Service) AddUser(ctx context.Context, req AddUserRequest) (*User, error) {
	if err := checkName("user", req.Name); err != nil {
		return nil, err
	}
	role, err := parseRole(req.Role)
	if err != nil {
		return nil, err
	}
	if req.Password != "" && len(req.Password) < 12 {
		return nil, badRequest("password must be at least 12 characters")
	}
	hash := ""
	if req.Password != "" {
		hash = hashPassword(req.Password)
	}
	u := &User{Name: req.Name, Role: role, HasPassword: hash != "", Created: s.clock.Now().UTC()}
	err = s.db.InTx(ctx, func(tx *dbTx) error {
		_, err := tx.Exec(ctx, `INSERT INTO users (name, role, password_hash, created) VALUES (?, ?, ?, ?)`, u.Name, string(role), hash, ns(u.Created))
		if db.IsUniqueViolation(err) {
			return conflict("user %s already exists", u.Name)
		}
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, "user.add", u.Name, "role "+string(role))
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// ListUsers returns the users by name.
func (s *Service) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.Query(ctx, `SELECT name, role, password_hash, created FROM users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		var u User
		var hash string
		var c int64
		if err := rows.Scan(&u.Name, &u.Role, &hash, &c); err != nil {
			return nil, err
		}
		u.HasPassword, u.Created = hash != "", fromNS(c)
		out = append(out, u)
	}
	return out, rows.Err()
}

// RemoveUser deletes a user and its tokens. The last owner cannot be removed.
func (s *Service) RemoveUser(ctx context.Context, name string) error {
	return s.db.InTx(ctx, func(tx *dbTx) error {
		var role string
		err := tx.QueryRow(ctx, `SELECT role FROM users WHERE name = ?`, name).Scan(&role)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user %s does not exist", name)
		}
		if err != nil {
			return err
		}
		if Role(role) == RoleOwner {
			var owners int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE role = ?`, string(RoleOwner)).Scan(&owners); err != nil {
				return err
			}
			if owners == 1 {
				return conflict("user %s is the last owner and cannot be removed", name)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tokens WHERE user_name = ?`, name); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM users WHERE name = ?`, name); err != nil {
			return err
		}
		return s.audit(ctx, tx, "user.remove", name, "")
	})
}

// Token is an API token; Secret is set only in the answer that creates it.
type Token struct {
	ID      string     `json:"id"`
	User    string     `json:"user"`
	Name    string     `json:"name"`
	Created time.Time  `json:"created"`
	Expires *time.Time `json:"expires"`
	Secret  string     `json:"token,omitempty"`
}

// tokenHash is what the database keeps of a token: tokens are 256 random bits, so one SHA-256 is
// enough (no password stretching needed) and lookups stay cheap.
func tokenHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateTokenRequest is the body of POST /tokens.
type CreateTokenRequest struct {
	User       string `json:"user"` // default: the caller; another user needs the owner role
	Name       string `json:"name"`
	TTLSeconds int64  `json:"ttl_seconds"` // 0: no expiry
}

// CreateToken issues a token for a user.
func (s *Service) CreateToken(ctx context.Context, req CreateTokenRequest) (*Token, error) {
	a := actorOf(ctx)
	if req.User == "" {
		req.User = a.User
	}
	if req.User != a.User && a.Role != RoleOwner {
		return nil, errf(http.StatusForbidden, "only an owner may create tokens for another user")
	}
	if req.TTLSeconds < 0 || req.TTLSeconds > 10*365*86400 {
		return nil, badRequest("ttl_seconds must be between 0 (no expiry) and 315360000")
	}
	if len(req.Name) > 100 {
		return nil, badRequest("token name is longer than 100 characters")
	}
	return s.issueToken(ctx, req.User, req.Name, time.Duration(req.TTLSeconds)*time.Second)
}

func (s *Service) issueToken(ctx context.Context, user, name string, ttl time.Duration) (*Token, error) {
	raw := make([]byte, 32)
	rand.Read(raw)
	t := &Token{ID: newID("tk-"), User: user, Name: name, Created: s.clock.Now().UTC(), Secret: "osr_" + base64.RawURLEncoding.EncodeToString(raw)}
	var exp int64
	if ttl > 0 {
		e := t.Created.Add(ttl)
		t.Expires, exp = &e, ns(e)
	}
	err := s.db.InTx(ctx, func(tx *dbTx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE name = ?`, user).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("user %s does not exist", user)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tokens (id, user_name, hash, name, created, expires, revoked) VALUES (?, ?, ?, ?, ?, ?, 0)`,
			t.ID, user, tokenHash(t.Secret), name, ns(t.Created), exp); err != nil {
			return err
		}
		return s.audit(ctx, tx, "token.create", t.ID, "user "+user)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// ListTokens lists the caller's tokens (an owner: everyone's), without secrets.
func (s *Service) ListTokens(ctx context.Context) ([]Token, error) {
	a := actorOf(ctx)
	rows, err := s.db.Query(ctx, `SELECT id, user_name, name, created, expires FROM tokens WHERE revoked = 0 AND (? = 'owner' OR user_name = ?) ORDER BY created, id`, string(a.Role), a.User)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		var t Token
		var c, e int64
		if err := rows.Scan(&t.ID, &t.User, &t.Name, &c, &e); err != nil {
			return nil, err
		}
		t.Created, t.Expires = fromNS(c), timePtr(fromNS(e))
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes a token: the caller's own, or anyone's for an owner.
func (s *Service) RevokeToken(ctx context.Context, id string) error {
	a := actorOf(ctx)
	return s.db.InTx(ctx, func(tx *dbTx) error {
		var user string
		err := tx.QueryRow(ctx, `SELECT user_name FROM tokens WHERE id = ? AND revoked = 0`, id).Scan(&user)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && user != a.User && a.Role != RoleOwner) {
			return notFound("token %s does not exist", id)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE tokens SET revoked = ? WHERE id = ?`, ns(s.clock.Now()), id); err != nil {
			return err
		}
		return s.audit(ctx, tx, "token.revoke", id, "user "+user)
	})
}

// AuthenticateToken returns the user an API token (or a login token, e.g. from a portal session
// cookie) stands for; errors are *Error with status 401.
func (s *Service) AuthenticateToken(ctx context.Context, secret string) (Actor, error) {
	return s.authenticateToken(ctx, secret)
}

// Can reports whether the actor's role allows a permission by its name (as Route.Permission and
// docs/api/openapi.yaml's x-osr-permission spell them: read, self, failover, write, owner). Code
// that calls Service methods directly (the portal) checks it first: the methods themselves do not.
func (a Actor) Can(permission string) bool {
	for p := permRead; p <= permOwner; p++ {
		if (Route{perm: p}).Permission() == permission {
			return a.Role.allows(p)
		}
	}
	return false
}

var errUnauthorized = errf(http.StatusUnauthorized, "missing or invalid API token")

// authenticateToken returns the actor that a bearer token stands for.
func (s *Service) authenticateToken(ctx context.Context, secret string) (Actor, error) {
	var user, role string
	var exp int64
	err := s.db.QueryRow(ctx, `SELECT t.user_name, u.role, t.expires FROM tokens t JOIN users u ON u.name = t.user_name WHERE t.hash = ? AND t.revoked = 0`, tokenHash(secret)).Scan(&user, &role, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return Actor{}, errUnauthorized
	}
	if err != nil {
		return Actor{}, err
	}
	if exp != 0 && !s.clock.Now().Before(fromNS(exp)) {
		return Actor{}, errf(http.StatusUnauthorized, "API token has expired")
	}
	return Actor{User: user, Role: Role(role)}, nil
}

// LoginRequest is the body of POST /login.
type LoginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// Login checks a password and issues a token valid for 12 hours.
func (s *Service) Login(ctx context.Context, req LoginRequest) (*Token, error) {
	var hash string
	err := s.db.QueryRow(ctx, `SELECT password_hash FROM users WHERE name = ?`, req.User).Scan(&hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if hash == "" {
		checkPassword(hashPassword("x"), req.Password) // same cost whether or not the user exists
		return nil, errf(http.StatusUnauthorized, "user name or password is wrong")
	}
	if !checkPassword(hash, req.Password) {
		return nil, errf(http.StatusUnauthorized, "user name or password is wrong")
	}
	ctx = WithActor(ctx, Actor{User: req.User, Remote: actorOf(ctx).Remote})
	return s.issueToken(ctx, req.User, "login", 12*time.Hour)
}

// Bootstrap creates the first owner, "admin", with a token, when the vault has no users yet. It
// returns the token's secret, or "" when users exist already.
func (s *Service) Bootstrap(ctx context.Context) (string, error) {
	var n int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return "", err
	}
	if n > 0 {
		return "", nil
	}
	ctx = WithActor(ctx, Actor{User: "admin", Remote: "bootstrap"})
	if _, err := s.AddUser(ctx, AddUserRequest{Name: "admin", Role: string(RoleOwner)}); err != nil {
		if StatusOf(err) == http.StatusConflict {
			return "", nil // another replica won
		}
		return "", err
	}
	t, err := s.issueToken(ctx, "admin", "bootstrap", 0)
	if err != nil {
		return "", err
	}
	return t.Secret, nil
}
