using System.Diagnostics;
using System.Globalization;

namespace OnnxLm.Hosting;

/// <summary>
/// Start-up stages on an interactive terminal: a stderr line as each stage begins ("… loading model DIR"), a reminder
/// every <see cref="ReminderInterval"/> while one runs long ("… still loading model DIR (10 s)") and "ready in 1.2 s"
/// at the end. Whole lines only, no cursor tricks, because the console logger writes between them. Only for a terminal
/// (<see cref="Console.IsErrorRedirected"/> false): logs and service managers get the one "ready in" log line instead.
/// Invariant: every write happens under <see cref="gate"/>, so a reminder never splits a stage line.
/// </summary>
internal sealed class LoadProgress : IDisposable
{
    static readonly TimeSpan ReminderInterval = TimeSpan.FromSeconds(5);

    readonly TextWriter output;
    readonly Lock gate = new();
    readonly Timer timer;
    readonly Stopwatch total = Stopwatch.StartNew();
    readonly Stopwatch stage = new();
    string? current;

    internal LoadProgress(TextWriter output)
    {
        this.output = output;
        timer = new Timer(_ => Remind(), null, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>A progress display on stderr when it is a terminal; null otherwise.</summary>
    public static LoadProgress? ForConsole() => Console.IsErrorRedirected ? null : new LoadProgress(Console.Error);

    public void Stage(string name)
    {
        lock (gate)
        {
            current = name;
            stage.Restart();
            output.Write($"… {name}\n");
            output.Flush();
        }
        timer.Change(ReminderInterval, ReminderInterval);
    }

    public void Ready(string detail)
    {
        timer.Change(Timeout.Infinite, Timeout.Infinite);
        lock (gate)
        {
            current = null;
            output.Write($"ready in {Seconds(total.Elapsed)}: {detail}\n");
            output.Flush();
        }
    }

    void Remind()
    {
        lock (gate)
        {
            if (current is null) return;
            output.Write($"… still {current} ({Seconds(stage.Elapsed)})\n");
            output.Flush();
        }
    }

    static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";

    public void Dispose()
    {
        timer.Dispose();
        lock (gate) current = null;
    }
}
