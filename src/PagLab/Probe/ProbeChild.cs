using System.Text.Json;
using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using static TorchSharp.torch;

namespace PagLab.Probe;

/// <summary>
/// The child's side of <see cref="ProbeProcess"/>: announces each step on stdout (so that the parent can name
/// the operation that hung or crashed), runs the checks of the request's kind and prints one report line.
/// </summary>
public static class ProbeChild
{
    /// <summary>Runs the request given as JSON; the exit code is 0 whenever a report was printed.</summary>
    public static int Run(string requestJson)
    {
        ProbeRequest request;
        try { request = JsonSerializer.Deserialize<ProbeRequest>(requestJson, JsonFiles.Lines)!; }
        catch (JsonException e) { throw new PagLabException($"probe: bad request ({e.Message})"); }
        ProbeReport report;
        using (NewDisposeScope())
        {
            try
            {
                report = request.Kind switch
                {
                    ProbeKind.Classifier => ClassifierProbe.Run(request),
                    ProbeKind.Denoiser => DenoiserProbe.Run(request),
                    _ => AutoencoderProbe.Run(request),
                };
            }
            catch (DataFormatException e) { report = new ProbeReport { File = e.Path, Problem = e.Problem }; }
            catch (Exception e)
            {
                // A .NET-side failure (a cast, a NotImplementedException for an output type TorchSharp cannot
                // read) is still one line about the file and the step.
                report = new ProbeReport { File = request.Archive,
                    Problem = $"{Step ?? "loading"}: {IO.Torch.TorchScriptFile.FirstLine(e.Message)}" };
            }
        }
        Console.Out.WriteLine(ProbeProcess.ReportMarker + JsonSerializer.Serialize(report, JsonFiles.Lines));
        Console.Out.Flush();
        return 0;
    }

    static string? Step { get; set; }

    /// <summary>Tells the parent which operation runs now.</summary>
    public static void Announce(string step)
    {
        Step = step;
        Console.Out.WriteLine(ProbeProcess.StepMarker + step);
        Console.Out.Flush();
    }

    /// <summary>Real test images of the dataset when it is there; else uniform noise (and a note saying so).
    /// </summary>
    public static (Tensor Images, Tensor? Labels, string Note) Images(ProbeRequest request, ImageShape shape, int n)
    {
        try
        {
            var data = Datasets.Load(request.Dataset, new DataOptions(request.DataRoot, 0, TrainSize: 1,
                TestSize: n));
            if (data.Shape == shape && data.Test.Count > 0)
                return (data.Test.Images, data.Test.Labels, $"{data.Test.Count} {data.Name} test images");
        }
        catch (Exception e) when (e is PagLabException or IOException) { }   // not there: noise images instead
        using var generator = new Generator(0);
        return (rand(new long[] { n, shape.Channels, shape.Height, shape.Width }, generator: generator), null,
            $"{n} uniform-noise images ({request.Dataset} not found: no accuracy)");
    }
}
