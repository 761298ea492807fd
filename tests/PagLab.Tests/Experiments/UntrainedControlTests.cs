using PagLab.Experiments;

namespace PagLab.Tests.Experiments;

public class UntrainedControlTests
{
    [Fact]
    public void Demo_MeasuresOneUntrainedControl_AfterItsTrainedJobs()
    {
        var spec = SweepSpec.Demo();
        spec.Validate("demo");
        var jobs = spec.Jobs();
        var control = Assert.Single(jobs, j => j.Imported?.Untrained == true);
        Assert.Equal(jobs.Count - 1, control.Index);                                 // numbered after the rest
        Assert.Equal(spec.Datasets[0], control.Dataset);
        Assert.Equal(spec.Seeds[0], control.Seed);                                   // the first seed's init
        Assert.Equal(13, jobs.Count(j => j.Imported is null));                       // the 13 trained jobs stay
    }
}
