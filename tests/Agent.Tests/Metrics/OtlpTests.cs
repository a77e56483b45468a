using System.Net;
using System.Net.Sockets;
using System.Text;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.Metrics;

/// <summary>OTLP push when an endpoint is configured: a minimal HTTP receiver stands in for the collector.</summary>
public sealed class OtlpTests : IDisposable
{
    private readonly ChildProcesses _children = new();

    [Fact]
    public async Task Metrics_are_pushed_over_otlp_http_protobuf_to_the_configured_endpoint()
    {
        using var receiver = new TcpListener(IPAddress.Loopback, 0);
        receiver.Start();
        var port = ((IPEndPoint)receiver.LocalEndpoint).Port;
        await DaemonProcess.StartAsync(_children, [
            "--poll-interval", "1h", "--collector", "proc", "--proc-root", Repo.Fixture("proc-metrics"),
            "--otlp-endpoint", $"http://127.0.0.1:{port}/v1/metrics", "--otlp-interval", "1s"]);

        // Both providers push (the long-lived one and the owner streams): read requests until
        // both halves of the metrics have arrived.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var requests = new List<(string Head, byte[] Body)>();
        while (!Seen(requests, "sockwatch.tcp.sockets") || !Seen(requests, "sockwatch.tcp.owner_sockets"))
        {
            requests.Add(await ReceiveOneAsync(receiver, timeout.Token));
        }

        Assert.All(requests, r =>
        {
            Assert.StartsWith("POST /v1/metrics HTTP/1.1", r.Head, StringComparison.Ordinal);
            Assert.Contains("content-type: application/x-protobuf", r.Head.ToLowerInvariant(), StringComparison.Ordinal);
        });
        var all = string.Concat(requests.Select(r => Encoding.UTF8.GetString(r.Body)));
        Assert.Contains("nginx: worker", all, StringComparison.Ordinal); // an owner label value
        Assert.Contains("service.name", all, StringComparison.Ordinal);
        Assert.DoesNotContain("otel.metric.overflow", all, StringComparison.Ordinal);
    }

    public void Dispose() => _children.Dispose();

    private static bool Seen(List<(string Head, byte[] Body)> requests, string metric) =>
        requests.Any(r => Encoding.UTF8.GetString(r.Body).Contains(metric, StringComparison.Ordinal));

    /// <summary>Accepts one connection, reads one HTTP/1.1 request with a Content-Length body, answers 200 with an empty protobuf.</summary>
    private static async Task<(string Head, byte[] Body)> ReceiveOneAsync(TcpListener listener, CancellationToken token)
    {
        using var client = await listener.AcceptTcpClientAsync(token);
        var stream = client.GetStream();
        var buffer = new List<byte>();
        var one = new byte[1];
        while (!EndsWithBlankLine(buffer))
        {
            if (await stream.ReadAsync(one, token) == 0)
            {
                throw new IOException("the exporter closed the connection mid-request");
            }

            buffer.Add(one[0]);
        }

        var head = Encoding.ASCII.GetString([.. buffer]);
        var lengthLine = head.Split("\r\n").First(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
        var body = new byte[int.Parse(lengthLine["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture)];
        await stream.ReadExactlyAsync(body, token);
        await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray(), token);
        return (head, body);
    }

    private static bool EndsWithBlankLine(List<byte> b) =>
        b.Count >= 4 && b[^4] == '\r' && b[^3] == '\n' && b[^2] == '\r' && b[^1] == '\n';
}
