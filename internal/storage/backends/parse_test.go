package backends

import (
	"strings"
	"testing"

	"github.com/opensiterecovery/osr/internal/storage/azure"
	"github.com/opensiterecovery/osr/internal/storage/s3"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestParse(t *testing.T) {
	azureEnv := env("AZURE_STORAGE_ACCOUNT", "acct", "AZURE_STORAGE_KEY", "a2V5",
		"AZURE_STORAGE_ENDPOINT", "http://127.0.0.1:10000/acct")
	s3Env := env("AWS_ACCESS_KEY_ID", "AKID", "AWS_SECRET_ACCESS_KEY", "SECRET", "AWS_REGION", "eu-west-1")
	for _, tc := range []struct {
		url  string
		env  func(string) string
		want target
	}{
		{"/var/lib/osr/vault", nil, target{kind: kindFile, dir: "/var/lib/osr/vault"}},
		{"vault", nil, target{kind: kindFile, dir: "vault"}},
		{"./a:b/c", nil, target{kind: kindFile, dir: "./a:b/c"}},
		{"file:///srv/vault", nil, target{kind: kindFile, dir: "/srv/vault"}},
		{"file://localhost/srv/vault", nil, target{kind: kindFile, dir: "/srv/vault"}},
		{"azure://vault", azureEnv, target{kind: kindAzure, azure: azure.Config{
			Container: "vault", Account: "acct", Key: "a2V5", Endpoint: "http://127.0.0.1:10000/acct"}}},
		{"azure://vault-1/site/a/", azureEnv, target{kind: kindAzure, azure: azure.Config{
			Container: "vault-1", Prefix: "site/a", Account: "acct", Key: "a2V5", Endpoint: "http://127.0.0.1:10000/acct"}}},
		{"azure://vault", env("AZURE_STORAGE_CONNECTION_STRING", "AccountName=x;AccountKey=y", "AZURE_STORAGE_ACCOUNT", "z"),
			target{kind: kindAzure, azure: azure.Config{Container: "vault", ConnectionString: "AccountName=x;AccountKey=y"}}},
		{"s3://s3.example.com/bucket", s3Env, target{kind: kindS3, s3: s3.Config{
			Endpoint: "s3.example.com", Bucket: "bucket", Region: "eu-west-1", AccessKey: "AKID", SecretKey: "SECRET"}}},
		{"s3://127.0.0.1:7070/osr.vault/site/a?tls=false&region=r1", s3Env, target{kind: kindS3, s3: s3.Config{
			Endpoint: "127.0.0.1:7070", Insecure: true, Region: "r1", Bucket: "osr.vault", Prefix: "site/a",
			AccessKey: "AKID", SecretKey: "SECRET"}}},
		{"s3://h/bkt?tls=true", s3Env, target{kind: kindS3, s3: s3.Config{
			Endpoint: "h", Bucket: "bkt", Region: "eu-west-1", AccessKey: "AKID", SecretKey: "SECRET"}}},
	} {
		getenv := tc.env
		if getenv == nil {
			getenv = env()
		}
		got, err := parse(tc.url, getenv)
		if err != nil {
			t.Errorf("parse %q: %v", tc.url, err)
			continue
		}
		if got != tc.want {
			t.Errorf("parse %q:\n got %+v\nwant %+v", tc.url, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	azureEnv := env("AZURE_STORAGE_ACCOUNT", "acct", "AZURE_STORAGE_KEY", "a2V5")
	s3Env := env("AWS_ACCESS_KEY_ID", "AKID", "AWS_SECRET_ACCESS_KEY", "SECRET")
	for _, tc := range []struct {
		url  string
		env  func(string) string
		want string // in the message
	}{
		{"", nil, "empty storage URL"},
		{"gs://bucket/x", nil, `unknown scheme "gs"`},
		{"file://host/x", nil, "has no host"},
		{"file:relative", nil, "absolute path"},
		{"file:///x?y=1", nil, "no parameters"},
		{"azure://vault", env(), "set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY"},
		{"azure://vault", env("AZURE_STORAGE_ACCOUNT", "a"), "AZURE_STORAGE_KEY is not"},
		{"azure://vault", env("AZURE_STORAGE_KEY", "k"), "AZURE_STORAGE_ACCOUNT is not"},
		{"azure://vault", env("AZURE_STORAGE_ACCOUNT", "a", "AZURE_STORAGE_KEY", "k", "AZURE_STORAGE_ENDPOINT", "127.0.0.1:1"),
			"AZURE_STORAGE_ENDPOINT"},
		{"azure://", azureEnv, "no container"},
		{"azure://Vault_1", azureEnv, "invalid container name"},
		{"azure://vault?x=1", azureEnv, "no parameters"},
		{"azure://user:topsecret@vault", azureEnv, "credentials do not go in the URL"},
		{"s3://host/bucket", env(), "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{"s3://host/bucket", env("AWS_ACCESS_KEY_ID", "x"), "set AWS_SECRET_ACCESS_KEY"},
		{"s3://host", s3Env, "no bucket"},
		{"s3:///bucket", s3Env, "no host"},
		{"s3://host/Bad_Bucket", s3Env, "invalid bucket name"},
		{"s3://host/bucket?tls=maybe", s3Env, "tls="},
		{"s3://host/bucket?secure=false", s3Env, `unknown parameter "secure"`},
		{"s3://AKID:topsecret@host/bucket", s3Env, "credentials do not go in the URL"},
		{"s3://host:port:bad/bucket", s3Env, "malformed storage URL"},
	} {
		getenv := tc.env
		if getenv == nil {
			getenv = env()
		}
		_, err := parse(tc.url, getenv)
		if err == nil {
			t.Errorf("parse %q: no error, want one saying %q", tc.url, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parse %q: error %q, want it to say %q", tc.url, err, tc.want)
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("parse %q: error %q shows the secret", tc.url, err)
		}
	}
}
