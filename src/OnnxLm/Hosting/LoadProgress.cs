using System.Diagnostics;
using System.Globalization;

namespace OnnxLm.Hosting;

/// <summary>
/// Start-up stages on an interactive terminal: one stderr line per stage, its own line redrawn with a spinner and the
/// elapsed time while the stage runs ("⠙ loading model… 1.4 s"), closed with the stage's time. Only for a terminal
/// (<see cref="Console.IsErrorRedirected"/> false): logs and service managers get the one "ready in" log line instead.
/// Invariant: at most one stage is open; every write happens under <see cref="gate"/>, so the timer never interleaves.
/// </summary>
internal sealed class LoadProgress : IDisposable
{
    static readonly string[] Frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

    readonly TextWriter output;
    readonly Lock gate = new();
    readonly Timer timer;
    readonly Stopwatch total = Stopwatch.StartNew();
    readonly Stopwatch stage = new();
    string? current;
    int frame;

    LoadProgress(TextWriter output)
    {
        this.output = output;
        timer = new Timer(_ => Redraw(), null, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>A progress display on stderr when it is a terminal; null otherwise.</summary>
    public static LoadProgress? ForConsole() => Console.IsErrorRedirected ? null : new LoadProgress(Console.Error);

    /// <summary>Closes the open stage (with its time) and opens <paramref name="name"/>.</summary>
    public void Stage(string name)
    {
        lock (gate)
        {
            CloseStage();
            current = name;
            stage.Restart();
            Draw();
        }
        timer.Change(100, 100);
    }

    /// <summary>Closes the open stage and prints "ready in …".</summary>
    public void Ready(string detail)
    {
        timer.Change(Timeout.Infinite, Timeout.Infinite);
        lock (gate)
        {
            CloseStage();
            output.Write($"ready in {Seconds(total.Elapsed)}: {detail}\n");
            output.Flush();
        }
    }

    void Redraw()
    {
        lock (gate)
            if (current is not null) Draw();
    }

    void Draw()
    {
        // \r + erase-line redraws the stage line in place.
        output.Write($"\r\x1b[2K{Frames[frame++ % Frames.Length]} {current}… {Seconds(stage.Elapsed)}");
        output.Flush();
    }

    void CloseStage()
    {
        if (current is null) return;
        output.Write($"\r\x1b[2K✓ {current} ({Seconds(stage.Elapsed)})\n");
        output.Flush();
        current = null;
    }

    static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";

    public void Dispose()
    {
        timer.Dispose();
        lock (gate)
        {
            // A failed start leaves the stage line open: end it so the error message starts on its own line.
            if (current is not null)
            {
                output.Write("\n");
                output.Flush();
                current = null;
            }
        }
    }
}
