using System.Runtime.InteropServices;

namespace OnnxLm.Hosting;

/// <summary>
/// <c>onnxlm serve</c>: starts an <see cref="OnnxLmServer"/>, tells systemd when it is ready, and on the first
/// SIGTERM/SIGINT drains it (see <see cref="OnnxLmServer.StopAsync"/>) and exits 0. A second SIGTERM/SIGINT exits at
/// once with <see cref="InterruptedExitCode"/>, whatever is still running or being flushed.
/// </summary>
internal static class ServerHost
{
    /// <summary>Exit code after a second signal: 128 + SIGINT, the shell's "interrupted", for SIGTERM too.</summary>
    public const int InterruptedExitCode = 130;

    public static async Task<int> RunAsync(ServeOptions options)
    {
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // The first signal also cancels a start still pulling its model: a download can take hours, a load cannot.
        using var starting = new CancellationTokenSource();
        int signals = 0;
        // A SIGINT ignored since the parent started us would stay ignored by the registration below.
        string? sigIntNote = InheritedSignals.ResetIgnoredSigInt();
        // Registered before the (possibly slow) model load, so a signal during startup is a clean stop, not a kill.
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

        OnnxLmServer server;
        using (var progress = LoadProgress.ForConsole())
        {
            try
            {
                server = await OnnxLmServer.StartAsync(options, null, whileLoading: null, requestLog: null, progress, starting.Token);
            }
            catch (OperationCanceledException) when (starting.IsCancellationRequested)
            {
                // Asked to stop before serving: a clean stop (0), as after a drain. A pull's partial files are kept.
                Console.Error.WriteLine("onnxlm: stopped before serving (the model was still being fetched; `onnxlm pull` or the next start resumes it)");
                return 0;
            }
            catch (ServerStartException e)
            {
                Console.Error.WriteLine($"onnxlm: {e.Message}");
                return 2;
            }
        }
        if (sigIntNote is not null) server.State.Log.LogWarning("{Note}", sigIntNote);
        SystemdNotifier.NotifyReady();
        await using (server)
        {
            await stop.Task;
            SystemdNotifier.NotifyStopping();
            await server.StopAsync();
        }
        return 0;

        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            if (Interlocked.Increment(ref signals) == 1)
            {
                stop.TrySetResult();
                starting.Cancel();
                return;
            }
            Console.Error.WriteLine($"onnxlm: second {context.Signal}: exiting now without finishing the drain");
            Environment.Exit(InterruptedExitCode);
        }
    }
}
