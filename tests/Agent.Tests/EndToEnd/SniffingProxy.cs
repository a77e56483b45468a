using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SockWatch.Agent.Tests.EndToEnd;

/// <summary>
/// A TCP proxy on loopback in front of the daemon that remembers the Accept header of the
/// requests it forwards and the Content-Type of the responses: what a scraper asked for and got.
/// </summary>
internal sealed class SniffingProxy : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _upstream;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<string> _accepts = [];
    private readonly List<string> _contentTypes = [];

    public SniffingProxy(IPEndPoint upstream)
    {
        _upstream = upstream;
        _listener.Start();
        _ = Task.Run(AcceptLoopAsync);
    }

    public string Target => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    public IReadOnlyList<string> Accepts
    {
        get
        {
            lock (_accepts)
            {
                return [.. _accepts];
            }
        }
    }

    public IReadOnlyList<string> ContentTypes
    {
        get
        {
            lock (_accepts)
            {
                return [.. _contentTypes];
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = Task.Run(() => RelayAsync(client));
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        using (client)
        using (var upstream = new TcpClient())
        {
            try
            {
                await upstream.ConnectAsync(_upstream, _stop.Token);
                var down = client.GetStream();
                var up = upstream.GetStream();
                await Task.WhenAny(
                    PipeAsync(down, up, "accept", _accepts),
                    PipeAsync(up, down, "content-type", _contentTypes));
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // a scrape connection ended
            }
        }
    }

    /// <summary>Copies <paramref name="from"/> to <paramref name="to"/>, noting the value of <paramref name="header"/> wherever a header line carries it.</summary>
    private async Task PipeAsync(NetworkStream from, NetworkStream to, string header, List<string> into)
    {
        var buffer = new byte[16384];
        int n;
        while ((n = await from.ReadAsync(buffer, _stop.Token)) > 0)
        {
            // Headers arrive at the start of a read in practice (one request or response per read on loopback).
            foreach (var line in Encoding.Latin1.GetString(buffer, 0, Math.Min(n, 4096)).Split("\r\n"))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon > 0 && line[..colon].Equals(header, StringComparison.OrdinalIgnoreCase))
                {
                    lock (_accepts)
                    {
                        into.Add(line[(colon + 1)..].Trim());
                    }
                }
            }

            await to.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
        }
    }
}
