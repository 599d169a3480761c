import { App } from 'aws-cdk-lib';
import { addPipelineBootstrap } from './pipeline-bootstrap';
import { buildApp } from './stages';

const app = new App();
buildApp(app);
addPipelineBootstrap(app);
app.synth();
