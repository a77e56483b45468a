using System.Net;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.Web;

/// <summary>
/// The real daemon on the proc-metrics fixture tree (one poll: the interval is an hour) with
/// --web.config.file: basic auth on every endpoint, TLS with a certificate the test made, client
/// certificates, reloads, and the start-up errors.
/// </summary>
public sealed class WebAccessLiveTests : IDisposable
{
    private readonly ChildProcesses _children = new();
    private readonly WebFixtures _files = new();

    [Fact]
    public async Task Basic_auth_guards_every_endpoint()
    {
        var config = _files.Write("web.yml", $"""
            http_server_config:
              headers:
                X-Content-Type-Options: nosniff
            basic_auth_users:
              prometheus: {WebFixtures.Hash("s3cret")}
            """);
        var daemon = await StartAsync(config, () => WebFixtures.WithCredentials(new HttpClient(), "prometheus", "s3cret"));

        using var anonymous = new HttpClient { BaseAddress = daemon.BaseUrl };
        foreach (var path in new[] { "/metrics", "/", "/healthz", "/readyz", "/nothing-here", "/api/v1/poll", "/api/v1/history?netns=x", "/static/sockwatch.js", "/runbook" })
        {
            using var refused = await anonymous.GetAsync(new Uri(path, UriKind.Relative));
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal("Basic", refused.Headers.WwwAuthenticate.ToString());
            Assert.Equal(["nosniff"], refused.Headers.GetValues("X-Content-Type-Options"));
        }

        using var wrong = WebFixtures.WithCredentials(new HttpClient { BaseAddress = daemon.BaseUrl }, "prometheus", "s3cre");
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync(new Uri("/metrics", UriKind.Relative))).StatusCode);
        using var stranger = WebFixtures.WithCredentials(new HttpClient { BaseAddress = daemon.BaseUrl }, "grafana", "s3cret");
        Assert.Equal(HttpStatusCode.Unauthorized, (await stranger.GetAsync(new Uri("/metrics", UriKind.Relative))).StatusCode);

        using var http = WebFixtures.WithCredentials(new HttpClient { BaseAddress = daemon.BaseUrl }, "prometheus", "s3cret");
        using var metrics = await http.GetAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        Assert.Contains("sockwatch_tcp_sockets{", await metrics.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(["nosniff"], metrics.Headers.GetValues("X-Content-Type-Options"));
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri("/nothing-here", UriKind.Relative))).StatusCode);
        foreach (var path in new[] { "/", "/api/v1/poll", "/api/v1/history", "/static/sockwatch.js", "/static/sockwatch.css", "/runbook" })
        {
            using var page = await http.GetAsync(new Uri(path, UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal(["nosniff"], page.Headers.GetValues("X-Content-Type-Options"));
        }
    }

    [Fact]
    public async Task Tls_serves_https_with_the_configured_certificate()
    {
        var config = _files.Write("web.yml", $"""
            tls_server_config:
              cert_file: server.crt
              key_file: server.key
            basic_auth_users:
              prometheus: {WebFixtures.Hash("s3cret")}
            """);
        var daemon = await StartAsync(config, () => _files.HttpsClient(user: "prometheus", password: "s3cret"));
        Assert.Equal("https", daemon.BaseUrl.Scheme);

        using var https = _files.HttpsClient(user: "prometheus", password: "s3cret");
        https.BaseAddress = daemon.BaseUrl;
        using var metrics = await https.GetAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        Assert.Contains("sockwatch_tcp_sockets{", await metrics.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("\"states\":{", await https.GetStringAsync(new Uri("/api/v1/poll", UriKind.Relative)), StringComparison.Ordinal);

        // HTTP/2 through ALPN (http2 defaults to true), and no plain HTTP on the TLS port.
        using var h2 = new HttpRequestMessage(HttpMethod.Get, "/healthz") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        Assert.Equal(HttpVersion.Version20, (await https.SendAsync(h2)).Version);
        using var plain = new HttpClient { BaseAddress = new UriBuilder(daemon.BaseUrl) { Scheme = "http" }.Uri };
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => plain.GetAsync(new Uri("/metrics", UriKind.Relative)));
    }

    [Fact]
    public async Task RequireAndVerifyClientCert_refuses_clients_without_a_certificate_from_the_ca()
    {
        var config = _files.Write("web.yml", """
            tls_server_config:
              cert_file: server.crt
              key_file: server.key
              client_auth_type: RequireAndVerifyClientCert
              client_ca_file: ca.crt
            """);
        var daemon = await StartAsync(config, () => _files.HttpsClient(_files.Client));

        using var withCertificate = _files.HttpsClient(_files.Client);
        withCertificate.BaseAddress = daemon.BaseUrl;
        Assert.Equal(HttpStatusCode.OK, (await withCertificate.GetAsync(new Uri("/metrics", UriKind.Relative))).StatusCode);

        using var without = _files.HttpsClient();
        without.BaseAddress = daemon.BaseUrl;
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => without.GetAsync(new Uri("/metrics", UriKind.Relative)));

        using var stranger = _files.HttpsClient(_files.Stranger);
        stranger.BaseAddress = daemon.BaseUrl;
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => stranger.GetAsync(new Uri("/metrics", UriKind.Relative)));
    }

    [Fact]
    public async Task A_changed_file_applies_without_a_restart_and_a_broken_one_fails_closed()
    {
        var yaml = (string password) => $"basic_auth_users:\n  prometheus: {WebFixtures.Hash(password)}\n";
        var config = _files.Write("web.yml", yaml("first"));
        var daemon = await StartAsync(config, () => WebFixtures.WithCredentials(new HttpClient(), "prometheus", "first"));
        using var first = WebFixtures.WithCredentials(new HttpClient { BaseAddress = daemon.BaseUrl }, "prometheus", "first");
        using var second = WebFixtures.WithCredentials(new HttpClient { BaseAddress = daemon.BaseUrl }, "prometheus", "second");
        var metrics = new Uri("/metrics", UriKind.Relative);
        Assert.Equal(HttpStatusCode.OK, (await first.GetAsync(metrics)).StatusCode);

        Rewrite(config, yaml("second"), 1);
        Assert.Equal(HttpStatusCode.Unauthorized, (await first.GetAsync(metrics)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await second.GetAsync(metrics)).StatusCode);

        Rewrite(config, yaml("second") + "basic_auth_user: {}\n", 2);
        Assert.Equal(HttpStatusCode.InternalServerError, (await second.GetAsync(metrics)).StatusCode);

        Rewrite(config, yaml("second"), 3);
        Assert.Equal(HttpStatusCode.OK, (await second.GetAsync(metrics)).StatusCode);
        Assert.Contains(daemon.Output, l => l.Contains("basic_auth_user: unknown key", StringComparison.Ordinal));
        Assert.Contains(daemon.Output, l => l.Contains("reloaded", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("absent.yml", null, "cannot read it")]
    [InlineData("web.yml", "tls_server_config:\n  cert_file: server.crt\n", "tls_server_config.key_file: missing")]
    [InlineData("web.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: Always\n", "line 4: tls_server_config.client_auth_type: 'Always'")]
    [InlineData("web.yml", "basic_auth_users:\n  prometheus: plaintext\n", "not a bcrypt hash")]
    public void A_bad_web_configuration_exits_2_with_one_line(string name, string? yaml, string expected)
    {
        var path = yaml is null ? Path.Combine(_files.Dir, name) : _files.Write(name, yaml);
        var r = Cli.Run("run", "--listen-address", "127.0.0.1:0", "--collector", "proc", "--proc-root", Repo.Fixture("proc-metrics"), "--web.config.file", path);
        Assert.Equal(2, r.ExitCode);
        var line = Assert.Single(r.StderrLines);
        Assert.StartsWith($"sockwatch run: configuration: web_config_file (from --web.config.file): {path}: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    /// <summary>The example, with its /etc/sockwatch/ paths pointed at this test's certificate and key (promtool loads them).</summary>
    [PromtoolFact]
    public void Promtool_accepts_the_example_web_configuration()
    {
        var path = ExampleWithTestFiles();
        var (code, output) = Promtool.Run(["check", "web-config", path]);
        Assert.True(code == 0, output);
    }

    [Fact]
    public void The_example_web_configuration_loads()
    {
        var loaded = Agent.Web.WebConfigLoader.Load(ExampleWithTestFiles());
        Assert.NotNull(loaded.ServerCertificate);
        Assert.NotEmpty(loaded.Config.Users);
        Assert.Equal(2, loaded.Config.Headers.Count);
    }

    public void Dispose()
    {
        _children.Dispose();
        _files.Dispose();
    }

    /// <summary>Rewrites the file with a modification time of its own: two writes in the same clock tick would look alike.</summary>
    private static void Rewrite(string path, string text, int generation)
    {
        File.WriteAllText(path, text);
        File.SetLastWriteTimeUtc(path, new DateTime(2030, 1, 1, 0, 0, generation, DateTimeKind.Utc));
    }

    private string ExampleWithTestFiles()
    {
        File.Copy(Path.Combine(_files.Dir, "server.crt"), Path.Combine(_files.Dir, "tls.crt"), overwrite: true);
        File.Copy(Path.Combine(_files.Dir, "server.key"), Path.Combine(_files.Dir, "tls.key"), overwrite: true);
        var example = File.ReadAllText(Path.Combine(Repo.Root, "deploy", "systemd", "web-config.yml"));
        return _files.Write("example.yml", example.Replace("/etc/sockwatch/", _files.Dir + "/", StringComparison.Ordinal));
    }

    private Task<DaemonProcess> StartAsync(string config, Func<HttpClient> readiness) =>
        DaemonProcess.StartAsync(
            _children,
            ["--poll-interval", "1h", "--collector", "proc", "--proc-root", Repo.Fixture("proc-metrics"), "--web.config.file", config],
            readiness: readiness);
}
