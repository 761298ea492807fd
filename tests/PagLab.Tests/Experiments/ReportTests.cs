using System.Diagnostics;
using System.Text.RegularExpressions;
using PagLab.Common;
using PagLab.Experiments;
using PagLab.Reporting;

namespace PagLab.Tests.Experiments;

public class ReportTests
{
    [Fact]
    public void Report_IsSelfContained_AndEveryImageLoadsInHeadlessChromium()
    {
        var spec = TinySweep.Spec(strengths: 2);
        string dir = TestPaths.TempDir("report");
        Assert.Equal(0, SweepRunner.RunAll(spec, new SweepFolder(dir), NullProgress.Instance));
        // A denoiser quality that does not beat the Gaussian fit: the report must show it and say it is too poor.
        static PagLab.Uncertainty.Estimate E(double m) => new(m, m - 0.01, m + 0.01, 50);
        string denoiserDir = new SweepFolder(dir).Shared("subspace-gaussians").Denoiser;
        Directory.CreateDirectory(denoiserDir);
        PagLab.Score.DenoiserQuality.Write(denoiserDir, new PagLab.Score.DenoiserQuality
        {
            Dataset = "subspace-gaussians", Arch = "unet", Count = 50, EdmLoss = E(0.4),
            BySigma = { new PagLab.Score.DenoiserQualityAtSigma { Sigma = spec.Measure.AlignmentSigma ?? 0.25,
                Mse = E(0.05),
                BaselineMse = E(0.05), GainOverBaseline = E(0) } },
        });
        string html = Path.Combine(dir, "report.html");
        ReportBuilder.Build(new SweepFolder(dir), html);
        string text = File.ReadAllText(html);
        Assert.Contains("<h2>Score</h2>", text);
        Assert.Contains("not better than the Gaussian fit", text);
        string summary = File.ReadAllText(Path.Combine(dir, "report.md"));
        Assert.Contains("| dataset | objective | the paper's claim | the paper showed it on | ours | outcome | "
            + "settled at this scale? | numbers |", summary);
        Assert.Contains("## What this scale cannot settle", summary);
        Assert.Contains("<h2>What this scale cannot settle</h2>", text);
        Assert.Matches(@"\*\*(held|did not hold|inconclusive)\*\*", summary);
        Assert.Contains("too poor for alignment findings", summary);
        Assert.Contains("Findings", text);
        Assert.Contains("Output measure: <b>softmax-l1</b>", text);
        Assert.Matches("(held|did not hold|inconclusive)</b>", text);
        Assert.Matches(@"\d \[[-0-9.e]+, [-0-9.e]+\]", text);    // numbers carry intervals
        Assert.Contains("Figure 3", text);
        Assert.DoesNotContain("src=\"http", text);
        int images = Regex.Matches(text, "<img ").Count;
        Assert.True(images >= 4, $"only {images} images");

        string? chromium = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);
        Assert.SkipWhen(chromium is null,
            "headless Chromium is not installed (apt-get install chromium; .ci/optional-packages does this in CI)");
        var info = new ProcessStartInfo(chromium!) { UseShellExecute = false, RedirectStandardOutput = true,
            RedirectStandardError = true };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking",
                                  "--disable-component-update", "--disable-sync",
                                      $"--user-data-dir={TestPaths.TempDir("chrome")}",
                                  "--virtual-time-budget=5000", "--dump-dom", "file://" + html })
            info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        string dom = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(2)), "chromium hung");
        var match = Regex.Match(dom, "data-images-loaded=\"(\\d+)/(\\d+)\"");
        Assert.True(match.Success, "the page's load script did not run: " + dom[..Math.Min(300, dom.Length)]);
        Assert.Equal(images.ToString(), match.Groups[2].Value);
        Assert.Equal(match.Groups[2].Value, match.Groups[1].Value);
    }
}
