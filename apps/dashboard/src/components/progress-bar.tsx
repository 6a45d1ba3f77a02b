interface ProgressBarProps {
  percent: number;
  stage: string;
  status: string;
}

export function ProgressBar({ percent, stage, status }: ProgressBarProps) {
  const clamped = Math.max(0, Math.min(100, percent));
  return (
    <div className="progress">
      <div
        className={`progress-track progress-${status}`}
        role="progressbar"
        aria-label="Progress"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={clamped}
        aria-valuetext={`${clamped}%, ${stage}`}
      >
        <div className="progress-fill" style={{ width: `${clamped}%` }} />
      </div>
      <span className="progress-label">
        <span className="progress-percent">{clamped}%</span> <span className="muted">{stage.replaceAll("_", " ")}</span>
      </span>
    </div>
  );
}
