using System.Diagnostics;

namespace SockWatch.Tests;

/// <summary>
/// The release binary (`dotnet publish src/Agent -c Release -r linux-x64`, native AOT), as users
/// get it, for the tests that need the shipped executable rather than the test build's apphost
/// (the real-systemd test, the pod's view, the BPF tests). Published at most once per test run:
/// the first caller in any test process publishes into artifacts/test-release under a file lock;
/// every later caller, in this process or another, finds it there. A binary newer than every
/// source file of src/ and the build's props is reused as it is (a run after an unchanged
/// checkout publishes nothing).
/// </summary>
internal static class ReleaseBinary
{
    private static readonly Lazy<string> Published = new(Publish, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The directory holding the published `sockwatch`.</summary>
    public static string Directory => Published.Value;

    /// <summary>The published `sockwatch` itself.</summary>
    public static string Executable => Path.Combine(Published.Value, "sockwatch");

    private static string Publish()
    {
        var output = Path.Combine(Repo.Root, "artifacts", "test-release");
        System.IO.Directory.CreateDirectory(Path.Combine(Repo.Root, "artifacts"));
        using var held = AcquireLock(Path.Combine(Repo.Root, "artifacts", "test-release.lock"));
        var binary = Path.Combine(output, "sockwatch");
        if (File.Exists(binary) && File.GetLastWriteTimeUtc(binary) > NewestSource())
        {
            return output;
        }

        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "publish", Path.Combine(Repo.Root, "src", "Agent"), "-c", "Release", "-r", "linux-x64", "-o", output, "--nologo", "-v", "quiet" })
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0 || !File.Exists(binary))
        {
            throw new InvalidOperationException($"dotnet publish src/Agent failed ({p.ExitCode}): {stdout.Result}{stderr}");
        }

        File.SetLastWriteTimeUtc(binary, DateTime.UtcNow); // publish may keep an older timestamp for an unchanged link
        return output;
    }

    private static DateTime NewestSource()
    {
        var newest = new[] { "Directory.Build.props", "Directory.Packages.props", "global.json" }
            .Select(f => Path.Combine(Repo.Root, f)).Where(File.Exists).Select(File.GetLastWriteTimeUtc).DefaultIfEmpty(DateTime.MinValue).Max();
        foreach (var file in System.IO.Directory.EnumerateFiles(Path.Combine(Repo.Root, "src"), "*", SearchOption.AllDirectories))
        {
            if (file.Contains("/bin/", StringComparison.Ordinal) || file.Contains("/obj/", StringComparison.Ordinal))
            {
                continue;
            }

            var t = File.GetLastWriteTimeUtc(file);
            if (t > newest)
            {
                newest = t;
            }
        }

        return newest;
    }

    /// <summary>An exclusive lock between test processes: the file opened with no sharing, retried until free.</summary>
    private static FileStream AcquireLock(string path)
    {
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                Thread.Sleep(200); // another test process is publishing
            }
        }
    }
}
